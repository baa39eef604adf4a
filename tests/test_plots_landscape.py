"""Figures of the landscape lab, drawn from small real runs: loss and sharpness against the
stability threshold (2/η, with momentum, Adam's, live LR changes, mid-run, without
sharpness), contours and surfaces of a grid filling in with the paths on them, lines with
their barrier, and the distance from init."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import xarray as xr

import workbench as wb
from workbench.landscape import line
from workbench.landscape.grid import iter_plane, window_axes
from workbench.landscape.paths import (
    distance_from_init,
    path_names,
    path_steps,
    project_paths,
    snapshot_at,
)
from workbench.landscape.planes import plane_of
from workbench.plots.colours import ColourMap
from workbench.plots.landscape import (
    complete_part,
    contour_figure,
    distance_figure,
    line_figure,
    loss_and_sharpness,
    sharpness_table,
    stability_threshold,
    surface_figure,
)
from workbench.track import snapshots

MODEL = wb.MLP(hidden=(8,))
LRS = [0.1, 0.3]
STEPS = 30


def _spec(**kw):
    base = dict(
        data="digits",
        model=MODEL,
        optimizer=wb.SGD(lr=0.1),
        steps=STEPS,
        batch_size=64,
        eval_every=10,
        track=wb.Track(snapshot_every=5, sharpness_every=10, probe=64, iters=5),
    )
    return wb.RunSpec(**{**base, **kw})


@pytest.fixture(scope="module")
def sweep():
    """2 LRs x 2 seeds, named as the lab names them."""
    specs = wb.grid(_spec(), {"optimizer.lr": LRS, "seed": [0, 1]})
    names = [f"lr {s.optimizer.lr:g}" for s in specs]
    return wb.run(specs).assign_coords(name=("run", np.asarray(names, dtype=object)))


def _of(fig, key):
    return [t for t in fig.data if isinstance(t.meta, dict) and key in t.meta]


# -- loss and sharpness ----------------------------------------------------------------------------


def test_the_threshold_is_two_over_the_lr_in_the_colour_of_its_group(sweep):
    cmap = ColourMap(["lr 0.3", "lr 0.1"])
    fig = loss_and_sharpness(sweep, colours=cmap)
    lines = {t.meta["threshold"]: t for t in _of(fig, "threshold")}
    assert set(lines) == {"lr 0.1", "lr 0.3"}  # one per group (its seeds share it)
    for g, lr in zip(("lr 0.1", "lr 0.3"), LRS, strict=True):
        np.testing.assert_allclose(np.asarray(lines[g].y, float), 2 / lr, rtol=1e-6)
        assert lines[g].line.dash == "dash" and lines[g].line.color == cmap[g]
        assert lines[g].yaxis == "y2"
    medians = {t.meta["group"]: t for t in _of(fig, "group") if t.meta["panel"] == "sharpness"}
    want = np.median(sweep.sharpness.values[sweep.name.values == "lr 0.3"], 0)
    np.testing.assert_allclose(np.asarray(medians["lr 0.3"].y, float), want, rtol=1e-6)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert "2/η" in fig.layout.annotations[1].text


def test_a_live_lr_change_moves_the_threshold_and_is_marked(sweep):
    ds = sweep.copy()
    ds["lr"] = ds.lr.where(ds.step < 15, ds.lr * 2)
    ds.attrs["session_events"] = json.dumps(
        [{"step": 15, "kind": "knob", "name": "lr_scale", "value": 2.0, "runs": [0, 1, 2, 3]}]
    )
    fig = loss_and_sharpness(ds)
    line = next(t for t in _of(fig, "threshold") if t.meta["threshold"] == "lr 0.1")
    y = np.asarray(line.y, float)
    np.testing.assert_allclose(y[:15], 20.0, rtol=1e-6)
    np.testing.assert_allclose(y[15:], 10.0, rtol=1e-6)
    assert "LR × 2" in [a.text for a in fig.layout.annotations]


def test_momentum_and_adam_have_their_own_thresholds():
    ds = wb.run(
        [
            _spec(optimizer=wb.SGD(lr=0.1, momentum=0.5), steps=10),
            _spec(optimizer=wb.AdamW(lr=0.01, beta1=0.9), steps=10),
        ]
    )
    thr = stability_threshold(ds)
    np.testing.assert_allclose(thr.values[0], (2 + 2 * 0.5) / 0.1, rtol=1e-5)
    np.testing.assert_allclose(thr.values[1], (2 + 2 * 0.9) / (0.1 * 0.01), rtol=1e-5)
    assert json.loads(thr.attrs["formula"]) == ["(2 + 2μ)/η", "(2 + 2β1)/((1 − β1)η)"]
    table = sharpness_table(ds, by="label")
    # the Adam run is compared by its preconditioned sharpness
    np.testing.assert_allclose(table.sharpness[1], ds.sharpness_pre.values[1, -1], rtol=1e-6)
    np.testing.assert_allclose(table.ratio, table.sharpness / table.threshold, rtol=1e-6)


def test_a_sweep_still_training_and_one_without_sharpness_draw(sweep):
    ds = sweep.copy()
    for v in ("train_loss", "lr"):  # steps not reached yet are NaN, as a session pads them
        ds[v] = ds[v].where(ds.step < 12)
    for v in ("sharpness", "sharpness_residual"):
        ds[v] = ds[v].where(ds.sharp_step <= 10)
    fig = loss_and_sharpness(ds, highlight=1, focus=0.2)
    thr = np.asarray(_of(fig, "threshold")[0].y, float)
    assert np.isfinite(thr[:12]).all() and np.isnan(thr[12:]).all()
    assert _of(fig, "run")  # the highlighted run, bold in both panels
    table = sharpness_table(ds)
    assert table.step.tolist() == [10, 10]
    plain = sweep.drop_vars(["sharpness", "sharpness_residual"]).drop_dims("sharp_step")
    fig = loss_and_sharpness(plain)
    assert not _of(fig, "threshold") and len(fig.layout.annotations) == 1
    with pytest.raises(ValueError, match="no sharpness"):
        sharpness_table(plain)


def test_the_previous_sweep_is_drawn_grey(sweep):
    fig = loss_and_sharpness(sweep, previous=sweep)
    grey = _of(fig, "previous")
    assert grey and {t.yaxis for t in grey} == {"y", "y2"}
    assert [t.name for t in fig.data if t.showlegend is not False].count("previous sweep") == 1


# -- slices ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(sweep):
    return plane_of(MODEL, "digits", snapshots(sweep, 0), "pca")


def test_paths_on_the_contour_are_the_projected_snapshots(sweep, plane):
    paths = project_paths(plane, sweep)
    assert sorted(paths) == [0, 1, 2, 3]
    np.testing.assert_allclose(paths[2], plane.project(snapshots(sweep, 2)[1]))
    names = path_names(sweep)
    assert names[2] == ("lr 0.3 · seed 0", "lr 0.3")
    alphas, betas = window_axes(*plane.extent(np.concatenate(list(paths.values()))), 9)
    grid = next(
        g
        for g in iter_plane(
            MODEL,
            plane.center,
            plane.d1,
            plane.d2,
            "digits",
            alphas=alphas,
            betas=betas,
            size=64,
            provenance=plane.attrs(),
        )
        if g.attrs["done"] == g.attrs["total"]
    )
    cmap = ColourMap(["lr 0.1", "lr 0.3"])
    labelled = {names[r][0]: paths[r] for r in paths}
    groups = {names[r][0]: names[r][1] for r in paths}
    steps = {names[r][0]: path_steps(sweep)[r] for r in paths}
    fig = contour_figure(grid, paths=labelled, groups=groups, steps=steps, colours=cmap)
    lines = {t.meta["path"]: t for t in _of(fig, "path")}
    assert len(lines) == 4
    for r, (label, group) in names.items():
        np.testing.assert_allclose(np.c_[lines[label].x, lines[label].y], paths[r])
        assert lines[label].line.color == cmap[group]
        end = next(t for t in _of(fig, "end") if t.meta["end"] == label)
        assert (end.x[0], end.y[0]) == tuple(paths[r][-1])
        assert list(lines[label].customdata) == path_steps(sweep)[r].tolist()
    dashes = [lines[f"lr 0.1 · seed {s}"].line.dash for s in (0, 1)]
    assert dashes == ["solid", "dash"]  # the second seed of a group is dashed
    contour = _of(fig, "grid")[0]
    np.testing.assert_allclose(contour.z, np.log10(grid.loss.values), rtol=1e-6)
    assert "principal direction" in fig.layout.xaxis.title.text
    assert surface_figure(grid, paths=labelled, groups=groups).data[0].type == "surface"


def test_a_grid_filling_in_shows_its_complete_part_and_blanks(plane):
    alphas, betas = window_axes((-1, 1), (-1, 1), 9)
    grids = list(
        iter_plane(
            MODEL,
            plane.center,
            plane.d1,
            plane.d2,
            "digits",
            alphas=alphas,
            betas=betas,
            size=64,
            block=5,
        )
    )
    first = grids[0]  # 5 of the first level's 9 points: drawn on the coarse lattice, blanks
    fig = contour_figure(first)
    z = np.asarray(fig.data[0].z, float)
    assert z.shape == (3, 3) and np.isnan(z).sum() == 4
    assert list(fig.layout.xaxis.range) == [-1.0, 1.0]  # the whole window, as it will be
    level = next(g for g in grids if g.attrs["done"] == 9)
    assert complete_part(level).sizes == {"beta": 3, "alpha": 3}
    later = next(g for g in grids if 9 < g.attrs["done"] < 81)
    assert np.isfinite(complete_part(later).loss.values).all()
    assert complete_part(grids[-1]).sizes == {"beta": 9, "alpha": 9}
    empty = first.copy()
    empty["loss"] = empty.loss * np.nan
    assert contour_figure(empty).data[0].showscale is False


def test_a_three_point_plane_names_its_points(sweep):
    plane = plane_of(MODEL, "digits", snapshots(sweep, 0), "three points", through=(0, 15, 30))
    g = xr.Dataset(
        {"loss": (("beta", "alpha"), np.ones((3, 3)))},
        coords={"alpha": [-1.0, 0.5, 2.0], "beta": [-1.0, 0.5, 2.0]},
        attrs=plane.attrs(),
    )
    fig = contour_figure(g)
    points = {t.meta["point"]: (t.x[0], t.y[0]) for t in _of(fig, "point")}
    assert points == {k: tuple(v) for k, v in plane.points.items()}
    assert "toward middle" in fig.layout.xaxis.title.text


def test_the_barrier_is_annotated(sweep):
    a, b = snapshot_at(sweep, 0), snapshot_at(sweep, 2)
    ds = line(MODEL, a, b, "digits", alphas=np.linspace(-0.25, 1.25, 13), size=64)
    fig = line_figure({"lr 0.1": ds}, ends=("end of A", "end of B"))
    assert [t.meta["var"] for t in fig.data if t.meta["var"] in ("loss", "acc")] == ["loss", "acc"]
    inner = ds.sel(alpha=slice(0, 1))  # the barrier is over the chord between the ends
    chord = np.interp(inner.alpha, [0, 1], inner.loss.values[[0, -1]])
    barrier = float((inner.loss - chord).max())
    text = fig.layout.annotations[0].text
    assert text == f"barrier {barrier:.3g}" or (barrier < 1e-2 and text.startswith("no barrier"))
    assert fig.layout.xaxis.ticktext[0] == "end of A"
    chord = next(t for t in fig.data if t.meta["var"] == "chord")
    assert min(chord.x) == 0 and max(chord.x) == 1


# -- distance -------------------------------------------------------------------------------------


def test_distance_from_init_and_its_figure(sweep):
    d = distance_from_init(sweep)
    steps, theta = snapshots(sweep, 3)
    np.testing.assert_allclose(d.values[3], np.linalg.norm(theta - theta[0], axis=1), rtol=1e-5)
    assert d.snap_step.values.tolist() == steps.tolist()
    fig = distance_figure(sweep)
    assert fig.layout.xaxis.type == "log"
    med = next(t for t in _of(fig, "group") if t.meta["group"] == "lr 0.3")
    assert list(med.x) == steps[1:].tolist()  # step 0 is off a log axis
    np.testing.assert_allclose(med.y, np.median(d.values[2:, 1:], 0), rtol=1e-6)


def test_runs_without_snapshots_are_nan_and_no_snapshots_is_an_error():
    spec = _spec(steps=10)
    ds = wb.run([spec, dataclasses.replace(spec, seed=1, track=None)])
    d = distance_from_init(ds)
    assert np.isfinite(d.values[0]).all() and np.isnan(d.values[1]).all()
    assert sorted(path_names(ds)) == [0]
    bare = wb.run([dataclasses.replace(spec, track=None)])
    with pytest.raises(ValueError, match="no parameter snapshots"):
        distance_from_init(bare)
    assert path_names(bare) == {}
    with pytest.raises(ValueError, match="no snapshot at step 7"):
        snapshot_at(ds, 0, 7)
    assert torch.equal(snapshot_at(ds, 0), torch.as_tensor(snapshots(ds, 0)[1][-1]))
