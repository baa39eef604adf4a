"""Figures of forgetting: forgetting curves and fits, the replay trade-off, the stability gap.

One small real replay sweep (3 ratios x 2 buffer sizes x 2 seeds on 3 split-digit tasks) is
trained once for the module; partial Datasets are slices of it and one paused Session.
"""

import warnings

import numpy as np
import pytest
import xarray as xr

import workbench as wb
from workbench.continual import acc, accuracy_matrix, forgetting, min_acc
from workbench.forgetting import fit_curves, forgetting_curves, stability_gap
from workbench.labs.continual import ContinualLab
from workbench.plots.colours import ColourMap
from workbench.plots.forgetting import SINCE_TITLE, forgetting_figure
from workbench.plots.gap import GAP_COLUMNS, gap_table
from workbench.plots.half_life import HALF_LIFE_COLUMNS, half_life_table, half_life_text
from workbench.plots.tradeoff import tradeoff_figure, tradeoff_table

RATIOS = [0.0, 0.25, 0.5]
SIZES = [50, 200]
TASK_STEPS, EVERY = 30, 3  # 3 tasks: switches at steps 30 and 60, the end at 90


def _upto(step):
    """The evaluations up to ``step``, as a sweep still being trained has them."""
    return {"eval_step": slice(0, step // EVERY + 1)}


@pytest.fixture(scope="module")
def sweep():
    lab = ContinualLab(
        replay_ratios=RATIOS,
        buffer_sizes=SIZES,
        seeds=2,
        tasks=3,
        task_steps=TASK_STEPS,
        eval_every=EVERY,
    )
    specs = lab.specs()
    return wb.run(specs).assign_coords(name=("run", lab.names(specs)))


@pytest.fixture(scope="module")
def figure(sweep):
    return forgetting_figure(sweep)


def _groups(ds):
    return list(dict.fromkeys(ds.name.values.tolist()))


def _of(fig, key, **match):
    return [t for t in fig.data if key in t.meta and all(t.meta[k] == v for k, v in match.items())]


# -- forgetting_figure ----------------------------------------------------------------------------


def test_forgetting_figure_panels_and_traces(sweep, figure):
    # the last task has no curve (nothing after it): two panels, the earliest tasks first
    tasks = ["classes 0-1", "classes 2-3"]
    assert [a.text for a in figure.layout.annotations] == tasks
    assert figure.layout.xaxis.title.text == SINCE_TITLE
    assert figure.layout.yaxis.title.text == "accuracy"
    assert figure.layout.template.layout.paper_bgcolor == "white"
    groups = _groups(sweep)
    for task in tasks:
        for g in groups:
            assert len(_of(figure, "group", group=g, task=task)) == 1  # the median
            assert len(_of(figure, "runs", runs=g, task=task)) == 1  # its runs, thin
            (fit,) = _of(figure, "fit", fit=g, task=task)
            assert fit.line.dash == "dash"
            assert fit.line.color == _of(figure, "group", group=g, task=task)[0].line.color
    legend = [t.name for t in figure.data if t.showlegend]
    assert len(legend) == len(groups)
    for name, g in zip(legend, groups, strict=True):
        assert name.startswith(f"{g} · 2 seeds · half-life ")
    assert "half-life per panel" in figure.layout.legend.title.text


def test_forgetting_figure_median_and_fit_match_the_library(sweep, figure):
    curves = forgetting_curves(sweep)
    fits = fit_curves(curves, by="name")
    g = "ratio 0 · buffer 50"  # fine-tuning: the first task is forgotten completely
    idx = np.flatnonzero(sweep.name.values == g)
    (med,) = _of(figure, "group", group=g, task="classes 0-1")
    want = np.nanmedian(curves.isel(run=idx, task=0).values, axis=0)
    ok = np.isfinite(want)
    np.testing.assert_allclose(med.y, want[ok])
    np.testing.assert_array_equal(med.x, curves.since.values[ok])
    (fit,) = _of(figure, "fit", fit=g, task="classes 0-1")
    hl = float(fits.best_half_life.sel(name=g).isel(task=0))
    assert np.isfinite(fit.meta["half_life"]) and fit.meta["half_life"] == pytest.approx(hl)
    assert fit.meta["model"] == str(fits.best.sel(name=g).isel(task=0).values)
    assert fit.name.startswith(f"{g} · half-life ") and "R²" in fit.name
    assert fit.y[0] > 0.8 and fit.y[-1] < 0.2  # it decays
    (diamond,) = _of(figure, "half_life", half_life=g, task="classes 0-1")
    assert diamond.x[0] == pytest.approx(hl)
    r0 = float(fits.R0.sel(name=g, model=fit.meta["model"]).isel(task=0))
    assert diamond.y[0] == pytest.approx(r0 / 2)  # half the value at 0


def test_forgetting_figure_options(sweep):
    one = sweep.isel(run=[0, 1, 8, 9])  # ratio 0 and 0.5, buffer 50
    cmap = ColourMap(["ratio 0.5 · buffer 50"])
    fig = forgetting_figure(one, tasks=["classes 0-1"], colours=cmap)
    assert [a.text for a in fig.layout.annotations] == ["classes 0-1"]
    assert _of(fig, "group", group="ratio 0.5 · buffer 50")[0].line.color == cmap.palette[0]
    legend = [t.name for t in fig.data if t.showlegend]
    assert all("(exp" in n or "(power" in n or "no fit" in n for n in legend)  # one panel: long
    fig = forgetting_figure(one, tasks=[1], fit=False, by="seed")
    assert [a.text for a in fig.layout.annotations] == ["classes 2-3"]
    assert not _of(fig, "fit")
    assert [t.name for t in fig.data if t.showlegend] == ["0 · 2 runs", "1 · 2 runs"]
    with pytest.raises(ValueError, match="tasks has 'nope'"):
        forgetting_figure(one, tasks=["nope"])


def test_half_life_text_says_when_a_fit_is_degenerate():
    t = np.arange(0, 40, 2.0)
    rows = [
        [0.2 + 0.7 * np.exp(-t / 10)],
        [0.2 + 0.7 * np.exp(-t / 400)],
        [np.full(t.size, 0.5)],
        [0.6 + 0.3 * np.exp(-t / 10)],
    ]
    f = fit_curves(
        xr.DataArray(
            rows,
            dims=("run", "task", "since"),
            coords={"since": t, "group": ("run", ["a", "b", "c", "d"])},
        )
    )
    good, slow, flat, kept = (half_life_text(f.isel(group=g, task=0), t) for g in range(4))
    # down to half of 0.9: 10 ln((0.9 - 0.2) / (0.45 - 0.2))
    assert good["value"] == pytest.approx(10 * np.log(2.8), rel=1e-3)
    assert good["long"] == "half-life 10 steps (exp, R² 1.00)"
    assert np.isposinf(kept["value"]) and kept["short"] == "∞"  # 0.6 > 0.9 / 2
    assert kept["long"] == "never halves: levels off at 0.60 of 0.90 (exp, R² 1.00)"
    assert np.isnan(slow["value"]) and slow["short"] == "> 38"
    assert np.isnan(flat["value"]) and flat["short"] == "–" and flat["long"].startswith("no fit")


def test_forgetting_figure_while_training(sweep):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        early = forgetting_figure(sweep.isel(_upto(30)))  # a curve of one point: none yet
        assert not early.data and "No forgetting curve yet" in early.layout.annotations[0].text
        fig = forgetting_figure(sweep.isel(_upto(36)))  # 3 evaluations after switch 1
    assert [a.text for a in fig.layout.annotations] == ["classes 0-1"]
    fits = _of(fig, "fit")
    assert not fits  # too few points for a fit: said in the legend
    assert all(t.name.endswith("no fit: too few points") for t in fig.data if t.showlegend)


# -- tradeoff_figure ------------------------------------------------------------------------------


def _direct(ds):
    """(size, ratio) -> the finished runs' final forgetting, newest-task accuracy and ACC."""
    R = accuracy_matrix(ds)
    f = forgetting(R).average.values
    a = acc(R).values
    newest = R.values[:, -1, -1]
    out = {}
    for i in range(ds.sizes["run"]):
        key = (int(ds["replay.size"][i]), float(ds["replay.ratio"][i]))
        out.setdefault(key, []).append((f[i], newest[i], a[i]))
    return {k: np.array(v) for k, v in out.items()}


def _check_medians(fig, direct):
    panels = ("forgetting", "newest", "acc")
    for t in fig.data:
        size, k = int(t.meta["line"].split()[-1]), panels.index(t.meta["panel"])
        for x, y, up, down in zip(t.x, t.y, t.error_y.array, t.error_y.arrayminus, strict=True):
            v = direct[(size, float(x))][:, k]
            assert y == pytest.approx(np.median(v))
            assert y + up == pytest.approx(v.max()) and y - down == pytest.approx(v.min())


def test_tradeoff_figure_medians_equal_the_continual_metrics(sweep):
    fig = tradeoff_figure(sweep)
    assert [a.text for a in fig.layout.annotations] == [
        "final forgetting",
        "final accuracy on the newest task",
        "ACC (mean over tasks)",
    ]
    assert "FACIL" in fig.layout.yaxis.title.text
    assert "replay ratio" in fig.layout.xaxis.title.text
    assert sorted({t.meta["line"] for t in fig.data}) == ["buffer 200", "buffer 50"]
    assert len(fig.data) == 2 * 3 and all(list(t.x) == RATIOS for t in fig.data)
    assert [t.name for t in fig.data if t.showlegend] == ["buffer 50", "buffer 200"]
    _check_medians(fig, _direct(sweep))
    # replay lowers forgetting (fine-tuning forgets the old classes entirely)
    (f50,) = [t for t in fig.data if t.meta == {"line": "buffer 50", "panel": "forgetting"}]
    assert f50.y[0] > 0.9 and f50.y[-1] < f50.y[0]


def test_tradeoff_figure_reads_the_specs_and_drops_unfinished_runs(sweep):
    # one ratio, the ratio and size coordinates gone: read from the specs, drawn as points
    one = sweep.isel(run=np.flatnonzero(sweep["replay.ratio"].values == 0.25))
    bare = one.drop_vars(["replay.ratio", "replay.size"])
    fig = tradeoff_figure(bare)
    assert all(t.mode == "markers" and list(t.x) == [0.25] for t in fig.data)
    assert any("sweep two or more" in a.text for a in fig.layout.annotations)
    _check_medians(fig, _direct(one))
    # a run stopped before its end is left out, and the figure says so
    acc_ = sweep.task_acc.values.copy()
    acc_[0, -1, :] = np.nan
    stopped = sweep.assign(task_acc=(sweep.task_acc.dims, acc_))
    fig = tradeoff_figure(stopped)
    assert any("1 run(s) not finished" in a.text for a in fig.layout.annotations)
    _check_medians(fig, _direct(sweep.isel(run=slice(1, None))))
    # none finished: a message, no traces
    fig = tradeoff_figure(sweep.isel(_upto(80)))
    assert not fig.data and "No run has finished" in fig.layout.annotations[0].text


def test_tradeoff_lines_sort_by_buffer_size_as_a_number(sweep):
    # runs in reverse, buffer 200 made 1000: as text "buffer 1000" < "buffer 50", and it comes first
    rev = sweep.isel(run=slice(None, None, -1))
    rev = rev.assign_coords(
        {"replay.size": rev["replay.size"].where(rev["replay.size"] != 200, 1000)}
    )
    table, notes = tradeoff_table(rev)
    assert not notes and list(table["line"].cat.categories) == ["buffer 50", "buffer 1000"]
    assert list(table.groupby("line", observed=True).groups) == ["buffer 50", "buffer 1000"]
    assert table["line"].is_monotonic_increasing  # the rows too: by line, then ratio, then run
    for _, part in table.groupby("line", observed=True):
        assert part["ratio"].is_monotonic_increasing
    assert table.sort_values("line")["size"].tolist() == sorted(table["size"])
    fig = tradeoff_figure(rev)
    assert [t.name for t in fig.data if t.showlegend] == ["buffer 50", "buffer 1000"]
    assert [t.meta["panel"] for t in fig.data[:3]] == ["forgetting", "newest", "acc"]


# -- gap_table ------------------------------------------------------------------------------------


def test_gap_table(sweep):
    table = gap_table(sweep)
    assert tuple(table.columns) == GAP_COLUMNS
    assert table.index.name == "name" and list(table.index) == _groups(sweep)
    assert (table["switch"] == 1).all() and (table["old task"] == "classes 0-1").all()
    # task-end evaluations miss the dip: their min-ACC is never lower
    assert (table["min-ACC task-ends-only"] >= table["min-ACC per-step"]).all()
    assert (table["min-ACC task-ends-only"] > table["min-ACC per-step"]).any()
    gap = stability_gap(sweep, switch=1)
    per_step = min_acc(sweep)
    for g in table.index:
        idx = np.flatnonzero(sweep.name.values == g)
        assert table.loc[g, "depth"] == pytest.approx(np.median(gap.depth.values[idx, 0]))
        assert table.loc[g, "before"] == pytest.approx(np.median(gap.before.values[idx, 0]))
        assert table.loc[g, "recovered"] == pytest.approx(
            np.nanmedian(gap.recovered.values[idx, 0]), nan_ok=True
        )
        assert table.loc[g, "min-ACC per-step"] == pytest.approx(np.median(per_step.values[idx, 0]))
    two = gap_table(sweep, switch=2, by="group")
    assert two.index.name == "group" and len(two) == 2 * len(table)
    assert set(two["old task"]) == {"classes 0-1", "classes 2-3"}
    assert (two["min-ACC task-ends-only"] >= two["min-ACC per-step"]).all()


def test_gap_table_says_how_much_came_back_when_the_recovery_time_is_inf():
    # task a is at 0.9 at the switch (step 10) and drops by 0.6 in every run; by the end of the
    # segment run x1 got a third of the drop back (not halfway: no recovery time), x2 two thirds
    # (halfway at step 20, 8 steps after its bottom); in y the task only improves (no drop)
    a = {
        "x1": [0.5, 0.9, 0.3, 0.4, 0.5],
        "x2": [0.5, 0.9, 0.3, 0.4, 0.7],
        "y": [0.5, 0.9, 0.95, 0.95, 0.95],
    }
    acc_ = np.stack([np.stack([v, np.linspace(0, 0.8, 5)], axis=1) for v in a.values()])
    ds = xr.Dataset(
        {"task_acc": (("run", "eval_step", "task"), acc_)},
        coords={
            "eval_step": [0, 10, 12, 14, 20],
            "task": ["a", "b"],
            "task_start": (("run", "task"), [[0, 10]] * 3),
            "name": ("run", ["x", "x", "y"]),
            "label": ("run", list(a)),
        },
    )
    one = gap_table(ds.isel(run=[0]))
    assert one.loc["x", "depth"] == pytest.approx(0.6)
    assert np.isposinf(one.loc["x", "recovery time (steps)"])  # never halfway back...
    assert one.loc["x", "recovered"] == pytest.approx(1 / 3)  # ...but a third came back
    table = gap_table(ds)
    cols = list(table.columns)
    assert cols.index("recovered") == cols.index("recovery time (steps)") - 1
    assert table.loc["x", "recovered"] == pytest.approx(0.5)  # the median of 1/3 and 2/3
    assert np.isnan(table.loc["y", "recovered"]) and table.loc["y", "depth"] < 0


# -- half_life_table ------------------------------------------------------------------------------


def test_half_life_table_is_what_the_figure_says(sweep, figure):
    table = half_life_table(sweep, by="name")
    assert tuple(table.columns) == HALF_LIFE_COLUMNS
    tasks = ["classes 0-1", "classes 2-3"]  # those with a curve, as the figure's panels
    assert table[["group", "task"]].values.tolist() == [
        [g, t] for g in _groups(sweep) for t in tasks
    ]
    fits = fit_curves(forgetting_curves(sweep), by="name")
    for row in table.itertuples(index=False):
        group, task, model, half_life, scale, r2, note = row
        (fit,) = _of(figure, "fit", fit=group, task=task)
        assert (model, note) == (fit.meta["model"], fit.meta["text"])
        assert half_life == pytest.approx(fit.meta["half_life"], nan_ok=True)
        assert r2 == pytest.approx(fit.meta["r2"])
        want = float(fits.best_time_scale.sel(name=group, task=task))
        assert scale == pytest.approx(want) and 0 < scale
    # fine-tuning forgets the first task within the run: a number, the same as in the legend
    fine = table[(table.group == "ratio 0 · buffer 50") & (table.task == "classes 0-1")]
    assert np.isfinite(fine["half-life"]).all() and fine["R²"].iloc[0] > 0.5
    assert fine["note"].iloc[0].startswith("half-life ")


def test_half_life_table_options_and_a_sweep_being_trained(sweep):
    one = half_life_table(sweep, by="seed", tasks=["classes 2-3"])
    assert one[["group", "task"]].values.tolist() == [["0", "classes 2-3"], ["1", "classes 2-3"]]
    with pytest.raises(ValueError, match="half_life_table: tasks has 'nope'"):
        half_life_table(sweep, tasks=["nope"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        early = half_life_table(sweep.isel(_upto(30)))  # no task has a curve yet: no rows
        few = half_life_table(sweep.isel(_upto(36)).drop_vars("name"))  # too few points to fit
    assert early.empty and tuple(early.columns) == HALF_LIFE_COLUMNS
    assert early["half-life"].dtype == np.float64
    assert set(few["group"]) == set(sweep.group.values.tolist())  # by "name" falls back
    assert (few["model"] == "").all() and few["half-life"].isna().all()
    assert (few["note"] == "no fit: too few points").all()


# -- a sweep still being trained ------------------------------------------------------------------


def test_everything_draws_on_slices_of_a_sweep(sweep):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for step in (0, 45, 75):
            part = sweep.isel(_upto(step))
            assert isinstance(forgetting_figure(part, fit=step == 75), type(tradeoff_figure(part)))
            table = gap_table(part)
            assert len(table) == len(_groups(sweep))


def test_a_paused_session_draws():
    lab = ContinualLab(
        replay_ratios=[0.0, 0.5], buffer_sizes=[50], seeds=2, tasks=3, task_steps=30, eval_every=2
    )
    s = wb.Session(lab.specs(), chunk_steps=10)
    s.pause(at_step=70)
    s.start()
    try:
        assert s.wait_paused()
        ds = s.dataset()
    finally:
        s.stop()
        s.resume()
        s.wait()
    assert ds.sizes["step"] == 70 and "name" not in ds.coords
    fig = forgetting_figure(ds)  # by "name" falls back to the groups
    assert [a.text for a in fig.layout.annotations] == ["classes 0-1", "classes 2-3"]
    assert [t.name.split(" · ")[0] for t in fig.data if t.showlegend] == ["ratio=0", "ratio=0.5"]
    fig = tradeoff_figure(ds)
    assert not fig.data and "No run has finished" in fig.layout.annotations[0].text
    table = gap_table(ds)
    assert list(table.index) == ["ratio=0", "ratio=0.5"]
    assert np.isfinite(table["depth"]).all()
