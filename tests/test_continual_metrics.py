"""Continual metrics against hand-computed matrices, edge cases included, and one real run."""

import numpy as np
import pytest
import xarray as xr

import workbench as wb
from workbench.continual import acc, accuracy_matrix, bwt, forgetting, fwt, min_acc, wc_acc

N = np.nan
STEPS = [0, 5, 10, 15, 20, 25, 30]
# run 0: tasks a, b, c starting at 0, 10, 20, 30 steps, evaluated every 5 steps
RUN0 = [
    [0.1, 0.1, 0.1],
    [0.6, 0.0, 0.0],
    [0.9, 0.0, 0.0],  # 10: end of a
    [0.3, 0.8, 0.0],  # a's stability gap
    [0.5, 0.35, 0.0],  # 20: end of b (the lowest b ever is, but it is not after b's end)
    [0.2, 0.4, 0.7],
    [0.4, 0.5, 0.8],  # 30: the end
]
# run 1: tasks a, b only (c is padding), starting at 0, 15; evaluated at 0, 10, 15, 20, 30
RUN1 = [
    [0.1, 0.1, N],
    [N, N, N],
    [0.7, 0.0, N],
    [0.8, 0.0, N],  # 15: end of a
    [0.6, 0.7, N],
    [N, N, N],
    [0.7, 0.9, N],  # 30: the end
]
R0 = [[0.9, 0.0, 0.0], [0.5, 0.35, 0.0], [0.4, 0.5, 0.8]]
R1 = [[0.8, 0.0, N], [0.7, 0.9, N], [N, N, N]]


def _results(task_index=True):
    """A results Dataset shaped like ``wb.run``'s for the two runs above."""
    ds = xr.Dataset(
        {"task_acc": (("run", "eval_step", "task"), np.array([RUN0, RUN1], dtype=np.float32))},
        coords={
            "run": [0, 1],
            "eval_step": STEPS,
            "task": ["a", "b", "c"],
            "seed": ("run", [0, 1]),
            "task_start": (("run", "task"), [[0, 10, 20], [0, 15, -1]]),
        },
    )
    if task_index:
        index = [[0] * 10 + [1] * 10 + [2] * 10, [0] * 15 + [1] * 15]
        ds["task_index"] = (("run", "step"), np.array(index))
    return ds


def _R(rows):
    return xr.DataArray(np.array(rows, dtype=float), dims=("trained", "task"))


def _close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, atol=1e-6)


# -- the accuracy matrix -------------------------------------------------------------------------


@pytest.mark.parametrize("task_index", [True, False])
def test_accuracy_matrix_reads_task_ends_and_pads_missing_tasks(task_index):
    R = accuracy_matrix(_results(task_index))
    assert R.dims == ("run", "trained", "task")
    assert R.trained.values.tolist() == R.task.values.tolist() == ["a", "b", "c"]
    assert R.seed.values.tolist() == [0, 1] and R.task_start.dims == ("run", "task")
    _close(R.values, [R0, R1])


def test_accuracy_matrix_without_an_evaluation_at_a_switch_is_an_error():
    ds = _results().drop_sel(eval_step=20)
    with pytest.raises(ValueError, match="run 0 has no evaluation at step 20, where task 'b' ends"):
        accuracy_matrix(ds)
    with pytest.raises(ValueError, match="no task_acc/task_start"):
        accuracy_matrix(xr.Dataset())


# -- ACC, BWT, forgetting ------------------------------------------------------------------------


def test_acc_bwt_forgetting_by_hand_with_a_padded_run():
    R = accuracy_matrix(_results())
    _close(acc(R), [(0.4 + 0.5 + 0.8) / 3, (0.7 + 0.9) / 2])  # the run's own last row
    _close(bwt(R), [((0.4 - 0.9) + (0.5 - 0.35)) / 2, 0.7 - 0.8])
    f = forgetting(R)
    assert f.attrs["definition"] == "max_before_last" and f.per_task.dims == ("run", "task")
    # b's best before the last row is 0.35, so the last task improving it is negative forgetting
    _close(f.per_task, [[0.9 - 0.4, 0.35 - 0.5, N], [0.8 - 0.7, N, N]])
    _close(f.average, [(0.5 - 0.15) / 2, 0.1])


def test_single_task_gives_nan_not_zero():
    R = _R([[0.8]])
    assert float(acc(R)) == pytest.approx(0.8)
    assert np.isnan(bwt(R)) and np.isnan(fwt(R, xr.DataArray([0.1], dims="task")))
    for definition in ("max_before_last", "first_after", "max_all_rows"):
        f = forgetting(R, definition=definition)
        assert np.isnan(f.per_task).all() and np.isnan(f.average)


def test_forgetting_on_the_last_row_counts_the_task_before_last():
    """continuum looped range(k-2) and missed task T-1; only the last row drops it here."""
    R = _R([[0.9, 0.0, 0.0], [0.9, 0.8, 0.0], [0.9, 0.2, 0.7]])
    _close(forgetting(R).per_task, [0.0, 0.6, N])
    _close(forgetting(R).average, 0.3)
    _close(bwt(R), (0.0 + (0.2 - 0.8)) / 2)
    _close(acc(R), (0.9 + 0.2 + 0.7) / 3)


def test_forgetting_definitions_differ_where_they_should():
    # task 0 peaks after its own end (row 1); rows before a task is trained are not counted
    R = _R([[0.9, 0.99, 0.4], [0.95, 0.9, 0.6], [0.8, 0.6, 0.9]])
    _close(forgetting(R).per_task, [0.95 - 0.8, 0.9 - 0.6, N])  # not 0.99 - 0.6
    _close(forgetting(R, definition="first_after").per_task, [0.9 - 0.8, 0.9 - 0.6, N])
    _close(forgetting(R, definition="max_all_rows").per_task, [0.95 - 0.8, 0.9 - 0.6, N])
    # the last task improves task 0: negative for the first two, 0 for Mammoth's
    R = _R([[0.5, 0.0, 0.0], [0.4, 0.9, 0.0], [0.7, 0.8, 0.9]])
    _close(forgetting(R).per_task, [-0.2, 0.1, N])
    _close(forgetting(R, definition="first_after").average, (-0.2 + 0.1) / 2)
    _close(forgetting(R, definition="max_all_rows").per_task, [0.0, 0.1, N])
    with pytest.raises(ValueError, match="definition='avalanche' must be one of max_before_last"):
        forgetting(R, definition="avalanche")


@pytest.mark.parametrize(
    "rows", [R0, [[0.5, 0.0, 0.0], [0.4, 0.9, 0.0], [0.7, 0.8, 0.9]], [[0.3, 0.1], [0.2, 0.6]]]
)
def test_bwt_is_minus_avalanche_forgetting_and_has_either_sign(rows):
    R = _R(rows)
    _close(bwt(R), -forgetting(R, definition="first_after").average)
    assert float(bwt(_R([[0.9, 0.0], [0.2, 0.8]]))) == pytest.approx(-0.7)  # negative
    assert float(bwt(_R([[0.5, 0.0], [0.7, 0.8]]))) == pytest.approx(0.2)  # positive


def test_first_task_and_a_task_never_trained():
    R = accuracy_matrix(_results())
    assert float(forgetting(R).per_task.sel(task="a")[0]) == pytest.approx(0.5)
    assert np.isnan(R.isel(run=1).sel(task="c")).all()  # never trained: NaN, not 0
    assert np.isnan(forgetting(R).per_task.sel(task="c")).all()
    with pytest.raises(ValueError, match="must come first, padding"):
        acc(_R([[N, 0.0], [0.5, 0.8]]))
    with pytest.raises(ValueError, match="an accuracy matrix is square"):
        acc(xr.DataArray(np.zeros((2, 3)), dims=("trained", "task")))


# -- FWT -----------------------------------------------------------------------------------------


def test_fwt_with_the_baseline_and_one_task():
    R = _R([[0.9, 0.3, 0.2], [0.8, 0.9, 0.45], [0.7, 0.8, 0.9]])
    b = xr.DataArray([0.5, 0.1, 0.15], dims="task")
    _close(fwt(R, b), ((0.3 - 0.1) + (0.45 - 0.15)) / 2)  # b_0 is never used
    _close(fwt(_R([[0.9, 0.3], [0.8, 0.9]]), xr.DataArray([0.0, 0.1], dims="task")), 0.2)
    assert np.isnan(fwt(_R([[0.9]]), xr.DataArray([0.1], dims="task")))
    with pytest.raises(ValueError, match="needs a 'task' dim"):
        fwt(R, xr.DataArray(0.1))


def test_fwt_in_a_class_incremental_stream_is_minus_the_baseline():
    ds = _results()
    R = accuracy_matrix(ds)
    b = ds.task_acc.sel(eval_step=0)  # the same runs at initialisation
    _close(fwt(R, b), [-0.1, -0.1])  # R[j-1, j] = 0: only -b_j is left


# -- min-ACC and WC-ACC --------------------------------------------------------------------------


def test_min_acc_is_strictly_after_the_task_end():
    m = min_acc(_results())
    assert m.dims == ("run", "task")
    # a: min of 0.3, 0.5, 0.2, 0.4 (steps 15-30, not 0.1 at step 0); b: 0.4, not its end 0.35
    # run 1: a from steps 20, 30 only (NaN where it was not evaluated); last tasks have none
    _close(m, [[0.2, 0.4, N], [0.6, N, N]])


def test_wc_acc_by_hand():
    ds = _results()
    _close(wc_acc(ds, 1), [0.9, 0.8])  # the first task alone
    _close(wc_acc(ds, 2), [0.35 / 2 + 0.3 / 2, 0.9 / 2 + 0.6 / 2])  # a's min up to b's end
    _close(wc_acc(ds, 3), [0.8 / 3 + (2 / 3) * (0.2 + 0.4) / 2, N])  # run 1 has no task c
    for k in (0, 4, 1.0, True):
        with pytest.raises(ValueError, match=rf"k={k!r} must be an int in \[1, 3\]"):
            wc_acc(ds, k)


# -- a real run ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_fine_tuning_on_split_digits_forgets_the_first_task():
    """Naive fine-tuning on 2 class-incremental tasks: task 0 is almost entirely forgotten.

    Measured (3 seeds, CPU): forgetting of task 0 0.84, 0.94, 0.94 (median 0.94), BWT the same
    negated; min-ACC of task 0 is 0 (its classes are no longer predicted) in every seed.
    """
    stream = wb.class_incremental("digits", classes_per_task=5, task_steps=60)
    base = wb.RunSpec(
        data=stream,
        model=wb.MLP(hidden=(32,)),
        optimizer=wb.SGD(lr=0.1),
        steps=120,
        batch_size=32,
        eval_every=10,
    )
    ds = wb.run(wb.grid(base, {"seed": [0, 1, 2]}))
    R = accuracy_matrix(ds)
    f0 = forgetting(R).per_task.isel(task=0)
    assert float(f0.median()) > 0.5
    assert float(bwt(R).median()) < -0.5
    m0 = min_acc(ds).isel(task=0)
    assert np.isfinite(m0).all()
    # the evaluations after task 0 ended find it far below its end-of-task accuracy
    assert (m0 < R.isel(trained=0, task=0) - 0.5).all()


def test_fwt_says_when_it_is_degenerate():
    """Class-incremental: R[j-1, j] = 0 everywhere, FWT reduces to -mean(b_j) and says so."""
    R = xr.DataArray([[0.9, 0.0, 0.0], [0.5, 0.9, 0.0], [0.4, 0.6, 0.9]], dims=("trained", "task"))
    b = xr.DataArray([0.1, 0.2, 0.3], dims="task")
    f = fwt(R, b)
    assert float(f) == pytest.approx(-0.25) and "class-incremental" in f.attrs["degenerate"]
    R2 = R.copy(data=[[0.9, 0.3, 0.0], [0.5, 0.9, 0.2], [0.4, 0.6, 0.9]])
    assert "degenerate" not in fwt(R2, b).attrs
