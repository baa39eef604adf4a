"""Tests for workbench.plots: the figure builders shared by the apps and the notebooks.

The sweeps here are synthetic Datasets with the layout of :func:`workbench.run`'s (the
docstring examples build figures from real runs), so every test is fast and exact.
"""

import numpy as np
import pytest
import xarray as xr

from workbench import toys
from workbench.plots import ColourMap, training_curves
from workbench.plots.colours import PALETTE, REFERENCE
from workbench.plots.curves import STEP_TITLE
from workbench.plots.schedules import schedule_preview
from workbench.plots.valley import river_valley_figure

BIGRAM_NOTE = "a bigram language caps accuracy well below 1: compare runs, not with 100%"


def _sweep(kinds=("wsd", "constant"), seeds=3, *, steps=60, tasks=None, branch=None, scale=1.0):
    """A sweep of ``kinds`` x ``seeds`` runs with made-up curves (a stream if ``tasks``)."""
    rng = np.random.default_rng(0)
    runs = [(k, s) for k in kinds for s in range(seeds)]
    n = len(runs)
    step = np.arange(steps)
    eval_step = np.arange(0, steps + 1, 10)
    decay = np.exp(-step / 20)[None]
    test = scale * (1 + np.exp(-eval_step / 20))  # (eval_step,)
    data = {
        "train_loss": (("run", "step"), scale * (1 + decay + 0.01 * rng.random((n, steps)))),
        "lr": (("run", "step"), np.tile(np.linspace(0.02, 0.0, steps), (n, 1))),
        "eval_loss": (("run", "eval_step"), np.tile(test, (n, 1))),
        "eval_acc": (("run", "eval_step"), np.tile(eval_step / steps, (n, 1))),
        "diverged_step": ("run", np.full(n, -1)),
    }
    coords = {
        "run": np.arange(n),
        "step": step,
        "eval_step": eval_step,
        "seed": ("run", [s for _, s in runs]),
        "schedule": ("run", np.asarray([k for k, _ in runs], dtype=object)),
        "group": ("run", np.asarray([k for k, _ in runs], dtype=object)),
        "label": ("run", np.asarray([f"{k}, seed={s}" for k, s in runs], dtype=object)),
    }
    if branch is not None:
        coords["branch"] = ("run", np.asarray(branch, dtype=object))
    if tasks:
        loss = np.stack([np.tile(test + k, (n, 1)) for k in range(len(tasks))], axis=-1)
        data["task_loss"] = (("run", "eval_step", "task"), loss)  # (run, eval_step, task)
        coords["task"] = np.asarray(tasks, dtype=object)
    return xr.Dataset(data, coords=coords)


def _legend(fig):
    return [t.name for t in fig.data if t.showlegend]


def _titles(fig):
    return [a.text for a in fig.layout.annotations if a.yref == "paper"]


def _axis(fig, name):
    return fig.layout[name.replace("x", "xaxis").replace("y", "yaxis")]


# -- colours shared between figures -----------------------------------------------------------


def test_one_map_gives_a_name_the_same_colour_in_the_preview_curves_and_valley():
    cmap = ColourMap()
    # the preview lists constant first; the sweep has wsd first: colours follow the name
    preview = schedule_preview({"constant": np.ones(5), "wsd": np.ones(5)}, colours=cmap)
    curves = training_curves(_sweep(("wsd", "constant")), by="schedule", colours=cmap)
    valley = toys.RiverValley()
    sim = toys.simulate(valley, [0.05, 0.05], steps=20, seeds=[0])
    river = river_valley_figure(
        valley, sim, ["wsd", "constant"], peak_lr=0.05, frames=0, grid=5, colours=cmap
    )
    for name in ("wsd", "constant"):
        in_preview = {t.line.color for t in preview.data if t.name == name}
        in_curves = {t.line.color for t in curves.data if t.meta == {"group": name}}
        in_valley = {t.line.color for t in river.data if t.name == name}
        assert in_preview == in_curves == in_valley == {cmap[name]}
    assert cmap["constant"] == PALETTE[0] and cmap["wsd"] == PALETTE[1]


def test_a_fresh_map_per_figure_is_the_default_and_a_plain_mapping_works():
    fig = training_curves(_sweep(("cosine",)), by="schedule")
    assert {t.line.color for t in fig.data if t.meta == {"group": "cosine"}} == {PALETTE[0]}
    fig = schedule_preview({"a": np.ones(3), "b": np.ones(3)}, colours={"b": "#123456"})
    assert [t.line.color for t in fig.data] == [PALETTE[0], "#123456"]


def test_a_fork_branch_gets_its_parents_colour_dashed():
    branch = ["original"] * 6 + ["decay@30"] * 3
    ds = xr.concat([_sweep(), _sweep(("wsd",))], dim="run").assign_coords(
        run=np.arange(9), branch=("run", np.asarray(branch, dtype=object))
    )
    cmap = ColourMap(["constant", "wsd"])
    fig = training_curves(ds, by=["schedule", "branch"], colours=cmap)
    medians = {t.name: t.line for t in fig.data if t.showlegend}
    assert list(medians) == [
        "wsd · original · 3 seeds",
        "constant · original · 3 seeds",
        "wsd · decay@30 · 3 seeds",
    ]
    assert fig.layout.legend.title.text == "schedule · branch"
    parent, fork = medians["wsd · original · 3 seeds"], medians["wsd · decay@30 · 3 seeds"]
    assert parent.color == fork.color == cmap["wsd"]
    assert parent.dash == "solid" and fork.dash not in ("solid", "dot")
    # a label of the caller's own form, with the colour's name given by colour_key
    ds2 = ds.assign_coords(
        tag=(
            "run",
            [
                f"{s} · {b}" if b != "original" else s
                for s, b in zip(ds.schedule.values, branch, strict=True)
            ],
        )
    )
    fig = training_curves(ds2, by="tag", colours=cmap, colour_key=lambda s: s.split(" · ")[0])
    lines = {t.meta["group"]: t.line for t in fig.data if t.showlegend}
    assert lines["wsd · decay@30"].color == lines["wsd"].color == cmap["wsd"]
    assert lines["wsd · decay@30"].dash != lines["wsd"].dash


# -- readable panels --------------------------------------------------------------------------


def test_every_panel_has_axis_titles_with_units_and_legends_count_runs():
    fig = training_curves(_sweep(), by="schedule")
    assert _titles(fig) == [
        "training loss (smoothed)",
        "test loss",
        "test accuracy",
        "learning rate",
    ]
    xs = [fig.layout[f"xaxis{k or ''}"].title.text for k in range(1, 5)]
    ys = [fig.layout[f"yaxis{k or ''}"].title.text for k in range(1, 5)]
    assert xs == [STEP_TITLE] * 4
    assert ys == ["loss (nats)", "loss (nats)", "accuracy", "learning rate"]
    assert _legend(fig) == ["wsd · 3 seeds", "constant · 3 seeds"]
    # runs that are not one per seed are counted as runs; a lone run is just its name
    ds = _sweep(seeds=2).assign_coords(seed=("run", [0, 0, 0, 0]))
    assert _legend(training_curves(ds, by="schedule")) == ["wsd · 2 runs", "constant · 2 runs"]
    assert _legend(training_curves(_sweep(seeds=1), by="schedule")) == ["wsd", "constant"]


def test_accuracy_panel_can_be_left_out_or_annotated():
    no_acc = training_curves(_sweep(), accuracy=False)
    assert _titles(no_acc) == ["training loss (smoothed)", "test loss", "learning rate"]
    assert "xaxis4" not in no_acc.layout  # the other panels take its room
    assert no_acc.layout.xaxis3.domain[1] == pytest.approx(1.0)
    noted = training_curves(_sweep(), accuracy=BIGRAM_NOTE)
    notes = [a for a in noted.layout.annotations if a.yref == "y3 domain"]
    assert len(notes) == 1 and notes[0].text.replace("<br>", " ") == BIGRAM_NOTE
    assert notes[0].xref == "x3 domain"  # under the accuracy panel
    assert "test accuracy" in _titles(noted)


def test_stream_draws_the_tasks_asked_for():
    ds = _sweep(tasks=["old", "new", "newer"])
    fig = training_curves(ds)
    loss = [t for t in _titles(fig) if t.startswith("test loss")]
    assert loss == ["test loss on old", "test loss on new", "test loss on newer"]
    assert "test accuracy" not in " ".join(_titles(fig))  # per-task losses take its place
    fig = training_curves(ds, tasks=["newer"], accuracy=True)
    assert _titles(fig)[1:] == [
        "test loss on newer",
        "test accuracy (current task)",
        "learning rate",
    ]
    median = next(t for t in fig.data if t.meta == {"group": "wsd"} and t.xaxis == "x2")
    np.testing.assert_allclose(median.y, ds.task_loss.values[0, :, 2])
    assert [t for t in _titles(training_curves(ds, tasks=[]))][1] == "test loss"
    with pytest.raises(ValueError, match=r"tasks has 'nope'; allowed: \['old', 'new', 'newer'\]"):
        training_curves(ds, tasks=["nope"])
    with pytest.raises(ValueError, match="not on a data stream"):
        training_curves(_sweep(), tasks=["old"])


def test_many_panels_wrap_onto_a_second_row():
    ds = _sweep(tasks=["a", "b", "c", "d"])
    fig = training_curves(ds, accuracy=True)  # 1 + 4 + 1 + LR = 7 panels: two rows of 4
    assert len(_titles(fig)) == 7
    assert fig.layout.yaxis5.domain[1] < fig.layout.yaxis.domain[0]
    assert all(fig.layout[f"xaxis{k}"].title.text == STEP_TITLE for k in range(2, 8))


# -- a previous sweep in grey -----------------------------------------------------------------


def test_previous_sweep_is_drawn_grey_behind_in_every_shared_panel():
    ds, old = _sweep(), _sweep(("cosine", "constant"), scale=1.2)
    fig = training_curves(ds, by="schedule", previous=old, previous_label="last Run")
    grey = [i for i, t in enumerate(fig.data) if isinstance(t.meta, dict) and "previous" in t.meta]
    mine = [i for i, t in enumerate(fig.data) if i not in grey]
    assert max(grey) < min(mine)  # drawn first: behind the current curves
    assert {fig.data[i].line.color for i in grey} == {REFERENCE}
    assert all(fig.data[i].line.width < 2 for i in grey)
    assert [fig.data[i].name for i in grey if fig.data[i].showlegend] == ["last Run"]
    assert {fig.data[i].meta["previous"] for i in grey} == {"cosine", "constant"}
    for group in ("cosine", "constant"):  # each previous group in each of the 4 panels
        axes = {fig.data[i].xaxis for i in grey if fig.data[i].meta["previous"] == group}
        assert axes == {"x", "x2", "x3", "x4"}
    cosine = next(fig.data[i] for i in grey if fig.data[i].xaxis == "x2")
    np.testing.assert_allclose(cosine.y, old.eval_loss.values[0])
    # a panel the previous sweep lacks (another stream's task) is left without grey
    stream = training_curves(_sweep(tasks=["old", "new"]), previous=old)
    axes = {t.xaxis for t in stream.data if isinstance(t.meta, dict) and "previous" in t.meta}
    assert axes == {"x", "x4"}  # training loss and LR


# -- the river valley -------------------------------------------------------------------------


def test_valley_opens_on_frame_one_and_the_last_frame_draws_the_whole_path():
    valley = toys.RiverValley()
    sim = toys.simulate(valley, [0.1, 0.05], steps=50, seeds=[0, 1])
    fig = river_valley_figure(valley, sim, ["a", "b"], peak_lr=0.1, frames=5, grid=10)
    first, last = fig.frames[0], fig.frames[-1]
    slider = fig.layout.sliders[0]
    assert slider.active == 0 and list(slider.steps[0].args[0]) == [first.name]
    t0 = int(first.name)
    for k, trace in enumerate(first.traces[:2]):  # the two paths
        drawn = fig.data[trace]
        assert len(drawn.x) == len(first.data[k].x) == t0 + 1
        np.testing.assert_allclose(drawn.x, first.data[k].x)
        run = [0, 2][k]  # seed 0 of each schedule
        np.testing.assert_allclose(last.data[k].x, sim.x.values[run])  # the full path
        np.testing.assert_allclose(last.data[k].y, sim.y.values[run])
    # the dots sit at frame 1's step, as frame 1 puts them
    for k, trace in enumerate(first.traces[2:], start=2):
        np.testing.assert_allclose(fig.data[trace].x, first.data[k].x)
    assert int(last.name) == 50
    # a still picture draws the whole path
    still = river_valley_figure(valley, sim, ["a", "b"], peak_lr=0.1, frames=0, grid=10)
    assert len(still.data[1].x) == 51 and not still.frames


def test_valley_axes_are_titled_and_log_ticks_are_unambiguous():
    valley = toys.RiverValley()
    sim = toys.simulate(valley, [0.05], steps=300, seeds=[0, 1])
    fig = river_valley_figure(valley, sim, ["wsd"], peak_lr=0.05, frames=3, grid=10)
    assert fig.layout.xaxis.title.text == "along the river (x)"
    assert fig.layout.yaxis.title.text == "across the valley (y)"
    assert fig.layout.xaxis2.title.text == fig.layout.xaxis3.title.text == STEP_TITLE
    assert fig.layout.yaxis2.title.text and fig.layout.yaxis3.title.text
    across = fig.layout.yaxis3
    assert across.type == "log" and len(set(across.ticktext)) == len(across.ticktext)
    assert [float(t) for t in across.ticktext] == pytest.approx(list(across.tickvals))
    note = next(a for a in fig.layout.annotations if "predicted" in a.text)
    assert note.xref == "x3 domain" and note.x == 1 and note.xanchor == "left"  # in the margin
    assert note.y == pytest.approx(np.log10(toys.excess_loss_prediction(valley, 0.05)))


# -- the LR preview ---------------------------------------------------------------------------


def test_preview_axes_are_titled():
    steps = np.arange(1, 6)
    fig = schedule_preview(
        {"a": np.ones(5)}, predicted={"a": (steps, np.linspace(2, 1, 5))}, start=0
    )
    assert fig.layout.yaxis.title.text == "learning rate"
    assert fig.layout.yaxis2.title.text == "test loss (nats)"
    assert fig.layout.xaxis2.title.text == STEP_TITLE
