"""The landscape lab's knobs, sweep and planes (the app and the notebook build on these)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.engine import plan
from workbench.labs.landscape import LandscapeLab
from workbench.landscape import plane
from workbench.landscape.planes import Plane, plane_of

SMALL = {"lrs": [0.05, 0.2], "seeds": 1, "steps": 40, "width": 8, "train_examples": 128}


@pytest.fixture(scope="module")
def trained():
    lab = LandscapeLab(**SMALL)
    return lab, wb.run(lab.specs())


def test_specs_are_lrs_times_seeds_in_one_tracked_bucket():
    lab = LandscapeLab(lrs=[0.02, 0.05], seeds=3, steps=400)
    specs = lab.specs()
    assert len(specs) == 6 and len(plan(specs)) == 1
    assert {s.batch_size for s in specs} == {lab.n_train()}  # full batch by default
    assert specs[0].track == wb.Track(snapshot_every=4, sharpness_every=20, probe=1000, iters=10)
    assert lab.names(specs)[::3] == ["lr 0.02", "lr 0.05"]
    lab.schedule = "wsd"
    assert lab.specs()[0].optimizer.lr.kind == "wsd" and lab.decay_start() == 320


def test_two_tasks_sweep_replay_ratios_and_name_them():
    lab = LandscapeLab(data="two tasks", lrs=[0.05], replay_ratios=[0.0, 0.5], seeds=1, steps=60)
    specs = lab.specs()
    assert [s.replay.ratio for s in specs] == [0.0, 0.5]
    assert lab.names(specs) == ["lr 0.05 · fine-tune", "lr 0.05 · replay 0.5"]
    assert specs[0].data.starts == (0, 30)
    assert lab.probe_data(10).name == lab.probe_data(50).name == "digits"
    assert lab.probe_data(10) != lab.probe_data(50)  # task 1's classes, then task 2's


def test_every_preset_makes_a_sweep_and_says_what_to_watch():
    lab = LandscapeLab()
    for name in lab.presets:
        text = lab.apply_preset(name)
        assert len(text) > 200, name
        assert lab.specs(), name


@pytest.mark.parametrize("how", ["filter", "layer", "raw", "pca", "hessian", "three points"])
def test_every_plane_contains_its_centre_and_projects_the_path(trained, how):
    lab, ds = trained
    lab.directions = how
    p = lab.plane(ds, 1)
    steps, theta = wb.snapshots(ds, 1)
    coords = p.project(theta)
    assert coords.shape == (len(steps), 2)
    origin = p.project(p.center)[0]
    np.testing.assert_allclose(origin, [0.0, 0.0], atol=1e-5)
    (a0, a1), (b0, b1) = lab.window(p, {1: coords})
    assert a0 < 0 < a1 and b0 < 0 < b1
    if how == "three points":
        assert list(p.points) == ["init", "middle", "end"]
        np.testing.assert_allclose(coords[0], [0, 0], atol=1e-5)
        np.testing.assert_allclose(coords[-1], p.points["end"], atol=1e-4)


def test_random_planes_share_their_directions_across_runs(trained):
    lab, ds = trained
    lab.directions = "raw"
    a, b = lab.plane(ds, 0), lab.plane(ds, 1)
    assert torch.equal(a.d1, b.d1) and not torch.equal(a.center, b.center)


def test_a_plane_grid_through_the_lab_is_lowest_near_the_trained_point(trained):
    lab, ds = trained
    lab.directions = "filter"
    p = lab.plane(ds, 0)
    g = plane(
        lab.base_spec().model,
        p.center,
        p.d1,
        p.d2,
        lab.probe_data(),
        alphas=np.linspace(-1, 1, 5),
        betas=np.linspace(-1, 1, 5),
    )
    assert float(g.loss.sel(alpha=0, beta=0)) < float(g.loss.max())


def test_planes_refuse_bad_input_with_the_field_named(trained):
    lab, ds = trained
    model = lab.base_spec().model
    snaps = wb.snapshots(ds, 0)
    with pytest.raises(ValueError, match="how='sideways'; allowed"):
        plane_of(model, lab.probe_data(), snaps, "sideways")
    with pytest.raises(ValueError, match="no snapshot at step 41"):
        plane_of(model, lab.probe_data(), snaps, "three points", through=(0, 41, 40))
    with pytest.raises(ValueError, match=r"must be \[T, "):
        plane_of(model, lab.probe_data(), (snaps[0], snaps[1][:, :5]), "pca")
    with pytest.raises(ValueError, match="on one line"):
        s, t = snaps
        line = np.stack([t[0], 2 * t[0], 3 * t[0]])
        plane_of(model, lab.probe_data(), (s[:3], line), "three points", through=tuple(s[:3]))
    assert lab.check_value("resolution", 500) == (
        "Resolution must be a whole number from 5 to 101, got 500"
    )
    untracked = wb.run([lab.specs()[0].__class__(**{**lab.specs()[0].__dict__, "track": None})])
    with pytest.raises(ValueError, match="no parameter snapshots"):
        lab.plane(untracked, 0)


def test_projection_of_a_point_off_the_plane_is_its_nearest_point():
    c = torch.zeros(4)
    p = Plane(c, torch.tensor([1.0, 1, 0, 0]), torch.tensor([0.0, 1, 1, 0]))
    x = torch.tensor([1.0, 2.0, 1.0, 5.0])
    a, b = p.project(x)[0]
    residual = x - (a * p.d1 + b * p.d2)
    assert abs(float(residual @ p.d1)) < 1e-6 and abs(float(residual @ p.d2)) < 1e-6


def test_which_knobs_apply():
    lab = LandscapeLab()
    on = lab.applies()
    assert not on["batch_size"] and not on["replay_ratios"] and on["direction_seed"]
    lab.param.update(full_batch=False, data="two tasks", directions="pca")
    on = lab.applies()
    assert on["batch_size"] and on["replay_ratios"] and not on["direction_seed"]
    assert not on["span"] and not on["train_examples"]
