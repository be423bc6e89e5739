"""Results stores, the command line, and the figures."""

import json
import os
import re
import sys

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

import lrscape
from lrscape import cli, plot

VALLEY = lrscape.landscapes.get("narrow-valley")
GRID = {"learning_rate": lrscape.logspace(1e-3, 0.1, 12), "momentum": [0.0, 0.5, 0.9]}


@pytest.fixture(scope="module")
def small_sweep():
    return lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False)


def test_store_round_trip_with_xarray(tmp_path, small_sweep):
    path = tmp_path / "s.zarr"
    ds = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=str(path))
    xr.testing.assert_identical(ds, small_sweep)
    back = xr.open_zarr(path)  # plain xarray reads the flat layout
    assert back.regime.dims == ("trajectory",) and back.sizes["trajectory"] == ds.regime.size
    np.testing.assert_array_equal(back.regime.values, ds.regime.values.reshape(-1))
    xr.testing.assert_identical(lrscape.open(path), ds)
    assert json.loads(back.attrs["landscape_config"])["wall_curvature"] == 100.0
    assert back.attrs["jax_version"] and back.attrs["lrscape_version"] == lrscape.__version__


@pytest.mark.filterwarnings("ignore:Consolidated metadata")  # the foreign store's own write
def test_open_refuses_what_is_not_a_results_store(tmp_path):
    (tmp_path / "notes.txt").write_text("not zarr")
    xr.Dataset({"a": ("x", [1, 2])}).to_zarr(tmp_path / "other.zarr")
    for name in ("notes.txt", "other.zarr"):
        with pytest.raises(ValueError, match="is not an lrscape results store"):
            lrscape.open(tmp_path / name)
    assert cli.main(["plot", str(tmp_path / "other.zarr")]) == 2


def test_open_reads_a_part_of_a_store(tmp_path, small_sweep):
    path = tmp_path / "s.zarr"
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=str(path))
    summary = lrscape.open(path, records=False)  # what a phase diagram needs
    assert "loss_mean" not in summary and "step" not in summary.coords
    xr.testing.assert_identical(summary, small_sweep.drop_vars(["loss_mean", "loss_last",
                                                                "step"]))
    where = {"learning_rate": [3, 0, -1], "momentum": slice(1, None)}
    xr.testing.assert_identical(lrscape.open(path, isel=where), small_sweep.isel(where))
    xr.testing.assert_identical(lrscape.open(path, isel={"momentum": [2]}, records=False),
                                summary.isel(momentum=[2]))
    for bad, message in [({"seed": [0]}, "`isel` names 'seed', which is not a grid axis"),
                         ({"momentum": [3]}, r"`isel\['momentum'\]` must be .* in \[-3, 3\)"),
                         ({"momentum": 1}, r"`isel\['momentum'\]` must be a slice or a list")]:
        with pytest.raises(ValueError, match=message):
            lrscape.open(path, isel=bad)


def test_a_summary_figure_reads_only_the_records_it_draws(tmp_path, small_sweep, monkeypatch):
    path = tmp_path / "s.zarr"
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=str(path))
    summary = lrscape.open(path, records=False)
    read = []
    original = lrscape.store.open
    monkeypatch.setattr(lrscape.store, "open",
                        lambda *a, **k: read.append(original(*a, **k)) or read[-1])
    from_store = plot.summary_figure(summary, store=path, paths=False)
    monkeypatch.undo()
    in_memory = plot.summary_figure(small_sweep, paths=False)
    lines = [fig.axes[1].lines for fig in (from_store, in_memory)]
    assert [a.get_label() for a in lines[0]] == [b.get_label() for b in lines[1]]
    assert len(lines[0]) >= 3
    for a, b in zip(*lines, strict=True):
        np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())
    # one read of the records, of a sub-grid spanned by the curves' points alone
    assert len(read) == 1 and "loss_mean" in read[0]
    assert read[0].regime.size <= len(lines[0]) ** 2 < small_sweep.regime.size
    # with the paths drawn, the trajectories run again give the same curves, nothing read
    read.clear()
    monkeypatch.setattr(lrscape.store, "open",
                        lambda *a, **k: read.append(original(*a, **k)) or read[-1])
    rerun = plot.summary_figure(summary, store=path)
    monkeypatch.undo()
    assert not read and [line.get_label() for line in rerun.axes[1].lines] == [
        line.get_label() for line in lines[0]]
    for a, b in zip(rerun.axes[1].lines, lines[0], strict=True):
        np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())
    lean = small_sweep.drop_vars(["loss_mean", "loss_last", "step"])  # no store to read from
    assert "pass the store" in plot.summary_figure(lean, paths=False).axes[1].texts[
        0].get_text()
    with pytest.raises(ValueError, match="the Dataset has no records .* records=False"):
        plot.loss_curves(lean, [{"learning_rate": 1e-3, "momentum": 0.0}])
    plt.close("all")


def test_store_refuses_a_different_sweep_and_accepts_a_rerun(tmp_path):
    path = str(tmp_path / "s.zarr")
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=path)
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=path)  # re-run
    with pytest.raises(ValueError, match="holds a different sweep.*steps"):
        lrscape.sweep(VALLEY, "momentum", GRID, steps=100, progress=False, store=path)
    with pytest.raises(ValueError, match="differs in: coords"):
        lrscape.sweep(VALLEY, "momentum", {**GRID, "momentum": [0.1]}, steps=200,
                      progress=False, store=path)
    with pytest.raises(FileNotFoundError, match="no results store"):
        lrscape.open(tmp_path / "missing.zarr")


def test_phase_diagram_labels_regimes_log_axes_and_theory(small_sweep):
    ax = plot.phase_diagram(small_sweep)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    assert "learning rate" in ax.get_xlabel() and "log" in ax.get_xlabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("diverged" in t for t in labels) and any("monotone" in t for t in labels)
    assert any("heavy ball: diverges beyond ηλ = 2(1+β)" in t for t in labels)
    assert any("heavy ball: steepest direction bounces beyond ηλ = 1+β" in t for t in labels)
    assert "narrow-valley" in ax.get_title()
    # three uneven momenta: equal cells, a tick at each simulated value; twelve rates: round
    # numbers
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.5", "0.9"]
    assert list(ax.get_yticks()) == [0, 1, 2] and ax.get_ylim() == (-0.5, 2.5)
    assert len(ax.get_xticks()) < 12
    plt.close("all")


def test_phase_diagram_draws_a_long_axis_from_evenly_spaced_values(small_sweep):
    regimes = small_sweep.regime.transpose("momentum", "learning_rate").values
    ax = plot.phase_diagram(small_sweep, max_cells=5)
    drawn = ax.collections[0].get_array().reshape(3, 5)
    cols = [0, 3, 6, 8, 11]  # round(linspace(0, 11, 5)): the first and last included
    np.testing.assert_array_equal(drawn, regimes[:, cols])
    edges = plot._edges(small_sweep.learning_rate.values, log=True)
    np.testing.assert_allclose(ax.get_xlim(), edges[[0, -1]])  # the whole axis still covered
    full = plot.phase_diagram(small_sweep, max_cells=None).collections[0].get_array()
    np.testing.assert_array_equal(full.reshape(3, 12), regimes)
    with pytest.raises(ValueError, match="`max_cells` must be an integer >= 2 or None, got 1"):
        plot.phase_diagram(small_sweep, max_cells=1)
    plt.close("all")


def test_a_descending_grid_axis_is_drawn_increasing_like_an_ascending_one(small_sweep):
    flipped = small_sweep.isel(learning_rate=slice(None, None, -1), momentum=[2, 1, 0])
    up, down = plot.phase_diagram(small_sweep), plot.phase_diagram(flipped)
    assert down.get_xlim() == up.get_xlim() and down.get_xlim()[0] < down.get_xlim()[1]
    assert down.get_ylim() == up.get_ylim() and down.get_ylim()[0] < down.get_ylim()[1]
    plt.close("all")


@pytest.mark.filterwarnings("ignore:seed axis")  # the seeds are there to slice along
def test_a_grid_of_three_axes_is_drawn_a_slice_at_a_time(tmp_path, capsys):
    ds = lrscape.sweep(VALLEY, "momentum", {**GRID, "seed": [0, 1]}, steps=50, progress=False)
    with pytest.raises(ValueError, match=r"select=.*'seed'.*--select seed=VALUE"):
        plot.phase_diagram(ds)
    ax = plot.phase_diagram(ds, select={"seed": 1})
    assert ax.get_title().endswith("· seed = 1")  # which slice
    with pytest.raises(ValueError, match="not a grid axis"):
        plot.phase_diagram(ds, x="wall_curvature", select={"seed": 1})
    fig = plot.summary_figure(ds, select={"seed": 1}, paths=False)  # that slice's curves
    assert fig.axes[0].get_title().endswith("· seed = 1") and fig.axes[1].lines
    plt.close("all")
    # the command line draws the first slice, and says how to draw another
    out = tmp_path / "three.zarr"
    assert cli.main(["sweep", "--lr", "1e-3:0.1:12:log", "--axis", "momentum=0,0.5,0.9",
                     "--axis", "seed=3,4", "--steps", "50", "--out", str(out),
                     "--no-progress"]) == 0
    assert (f"wrote {tmp_path / 'three.png'} (at seed = 3; `lrscape plot {out} --select "
            "AXIS=VALUE` draws another slice)") in capsys.readouterr().out
    assert cli.main(["plot", str(out), "--select", "seed=4"]) == 0
    assert capsys.readouterr().out == f"wrote {tmp_path / 'three.png'}\n"
    assert cli.main(["plot", str(out), "--out", str(tmp_path / "first.png")]) == 0
    assert "(at seed = 3; `lrscape plot" in capsys.readouterr().out
    # what cannot be drawn is refused by name, before anything is drawn
    for argv, message in (
        (["--select", "seed=abc"], "--select expects AXIS=NUMBER, got seed=abc"),
        (["--select", "sead=4"], "`select` names 'sead', which is not a grid axis; grid axes: "
                                 "['learning_rate', 'momentum', 'seed']"),
        (["--select", "momentum=0.5"], "`select` names 'momentum', which is drawn: select the "
                                       "axes not drawn, ['seed']"),
        (["--select", "seed=9"], "`select` seed = 9.0 is outside the grid's seed axis, 3 to 4"),
        (["--x", "seed", "--y", "seed"],
         "`x` and `y` are both 'seed': draw two different grid axes"),
        (["--y", "wall_curvature"], "`y` = 'wall_curvature' is not a grid axis; grid axes: "
                                    "['learning_rate', 'momentum', 'seed']"),
    ):
        assert cli.main(["plot", str(out), "--out", str(tmp_path / "bad.png"), *argv]) == 2
        assert capsys.readouterr().err == f"lrscape plot: {message}\n"
        assert not (tmp_path / "bad.png").exists()
    # y alone: the learning rate stays across unless it is y
    assert plot.plane_axes(ds, y="learning_rate") == ("momentum", "learning_rate")
    assert plot.plane_axes(ds, y="seed") == ("learning_rate", "seed")


def test_loss_curves_and_summary_figure(tmp_path, small_sweep):
    ax = plot.loss_curves(small_sweep, [{"learning_rate": 1e-3, "momentum": 0.0},
                                        {"learning_rate": 0.1, "momentum": 0.9}])
    assert ax.get_yscale() == "log" and len(ax.get_lines()) >= 2
    with pytest.raises(ValueError, match=r"points\[0\].*leaves the grid axes \['momentum'\]"):
        plot.loss_curves(small_sweep, [{"learning_rate": 1e-3}])
    path = tmp_path / "fig.png"
    plot.summary_figure(small_sweep, str(path), paths=False)
    assert path.stat().st_size > 10_000
    # a grid given in decreasing order draws the same, its axis increasing all the same
    fig = plot.summary_figure(small_sweep.isel(learning_rate=slice(None, None, -1)))
    assert fig.axes[0].get_xlim()[0] < fig.axes[0].get_xlim()[1]
    assert len(fig.axes[1].get_lines()) == len(plot.representative_points(
        small_sweep, "learning_rate", "momentum")) + 1  # and the diverged one's cross
    plt.close("all")


def test_a_diverged_curve_far_above_the_others_is_marked_at_the_top(small_sweep):
    """The valley's heavy ball at lr 0.1 diverges within a record window to about 10^7, while
    the others stay below 10^2: the panel stops 30x above them, and the diverged run's last
    record is an arrow at its top with its value, not a cross that squashes the others."""
    points = [{"learning_rate": 1e-3, "momentum": 0.0}, {"learning_rate": 0.1, "momentum": 0.9}]
    ax = plot.loss_curves(small_sweep, points)
    kept = small_sweep.loss_mean.sel(points[0], method="nearest").values
    last = small_sweep.loss_mean.sel(points[1], method="nearest").values
    last = last[np.isfinite(last)][-1]
    assert last > 1e3 * kept.max()
    np.testing.assert_allclose(ax.get_ylim()[1], 30 * kept.max(), rtol=1e-6)
    (arrow,) = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert arrow.get_ydata()[0] == ax.get_ylim()[1]
    assert [t.get_text() for t in ax.texts] == [f"{last:.1e}"]
    plt.close("all")
    # within range, the cross sits at the value
    ax = plot.loss_curves(small_sweep, points[1:])
    (cross,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert cross.get_ydata()[0] == last and not ax.texts
    plt.close("all")


def test_stability_thresholds_follow_the_rate_its_schedule_and_the_optimizer():
    q = lrscape.landscapes.get("quadratic")
    cut = lrscape.schedules.get("piecewise-constant", boundaries=[50], multipliers=[1.0, 0.1])
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [0.1, 0.2]}, steps=100, schedule=cut,
                       progress=False)
    steps, threshold, formula = plot.stability_threshold(ds, ds.isel(learning_rate=1))
    assert formula == "2/η" and list(steps) == list(range(101))
    np.testing.assert_allclose(threshold[:50], 2 / 0.2)
    np.testing.assert_allclose(threshold[50:], 2 / 0.02)  # ten times higher after the cut
    # a schedule field as an axis: each trajectory's own
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [0.1], "every": [20.0, 60.0]}, steps=100,
                       schedule=lrscape.schedules.get("step-decay", factor=0.5), progress=False)
    late = plot.stability_threshold(ds, ds.isel(learning_rate=0, every=0))[1]
    np.testing.assert_allclose(late[[0, 19, 20, 40]], [20, 20, 40, 80])
    early = plot.stability_threshold(ds, ds.isel(learning_rate=0, every=1))[1]
    np.testing.assert_allclose(early[[0, 59, 60]], [20, 20, 40])
    # no closed form: Adam, a schedule given as a function, per-group rates
    for optimizer, schedule in (("adam", None), ("sgd", lambda t: 0.5 ** (t // 10))):
        ds = lrscape.sweep(q, optimizer, {"learning_rate": [0.1]}, steps=20,
                           schedule=schedule, progress=False)
        assert plot.stability_threshold(ds, ds.isel(learning_rate=0)) is None
    uv = lrscape.landscapes.get("uv-model")
    ds = lrscape.sweep(uv, "sgd", {"learning_rate@u": [0.1], "learning_rate@v": [0.1]},
                       steps=20, progress=False)
    assert plot.stability_threshold(ds, ds.isel({"learning_rate@u": 0,
                                                 "learning_rate@v": 0})) is None


def test_a_sweep_with_curvature_draws_its_sharpness_against_the_edge(tmp_path):
    grid = {"learning_rate": [0.004, 0.02, 0.06], "momentum": [0.0, 0.5]}
    store = str(tmp_path / "c.zarr")
    ds = lrscape.sweep(VALLEY, "momentum", grid, steps=200, curvature_every=100,
                       progress=False, store=store)
    fig = plot.summary_figure(ds, paths=False)
    sharp = [ax for ax in fig.axes if ax.get_title().startswith("sharpness")]
    assert len(sharp) == 1 and len(fig.axes) == 3  # phase, loss, sharpness
    lines = sharp[0].get_lines()
    # the valley's walls: sharpness 100 along every trajectory ...
    curves = [line for line in lines if line.get_linestyle() == "-" and len(line.get_xdata())]
    assert all(np.allclose(line.get_ydata()[np.isfinite(line.get_ydata())], 100.0)
               for line in curves)
    # ... and each trajectory's threshold 2(1+beta)/eta, dashed in its colour
    dashed = sorted(float(line.get_ydata()[0]) for line in lines
                    if line.get_linestyle() == "--" and len(line.get_xdata()))
    points = plot.representative_points(ds, "learning_rate", "momentum")
    expected = sorted(2 * (1 + p["momentum"]) / p["learning_rate"] for p in points)
    np.testing.assert_allclose(dashed, expected, rtol=1e-6)
    plt.close(fig)
    # from the store, read without records: the same panels
    fig = plot.summary_figure(lrscape.open(store, records=False), store=store, paths=False)
    assert [ax.get_title()[:9] for ax in fig.axes] == [
        fig.axes[0].get_title()[:9], "loss alon", "sharpness"]
    plt.close(fig)
    # no curvature: the phase diagram, the loss and the paths (or without them, two panels)
    ds = lrscape.sweep(VALLEY, "momentum", grid, steps=200, progress=False)
    assert len(plot.summary_figure(ds).axes) == 3
    assert len(plot.summary_figure(ds, paths=False).axes) == 2
    plt.close("all")


def test_a_sweep_with_lyapunov_draws_the_exponent_over_the_phase_diagram():
    """Gradient descent on the double well: a fixed point at eta = 0.5 (exponent log|1-2eta|
    = -inf, drawn at the floor), a 2-cycle at 1.1 (negative), chaos at 1.4 (positive),
    divergence at 2.1 (none)."""
    well = lrscape.landscapes.get("double-well", start=0.5)
    grid = {"learning_rate": [0.5, 1.1, 1.4, 2.1], "momentum": [0.0, 0.02]}
    ds = lrscape.sweep(well, "momentum", grid, steps=400, lyapunov=True, progress=False)
    exponent = ds.lyapunov.values
    assert exponent[2, 0] > 0 > exponent[1, 0] and np.isnan(exponent[3]).all()
    fig = plot.summary_figure(ds, paths=False)
    (panel,) = [ax for ax in fig.axes if ax.get_title().startswith("largest Lyapunov")]
    (mesh,) = panel.collections
    drawn = mesh.get_array().reshape(2, 4)  # (momentum, learning_rate)
    np.testing.assert_array_equal(drawn.mask, np.isnan(exponent.T))
    np.testing.assert_allclose(drawn.compressed(), np.maximum(
        exponent.T[~np.isnan(exponent.T)], plot.LYAPUNOV_FLOOR), rtol=1e-6)
    assert mesh.norm(0.0) == 0.5  # white at zero: red is chaos, blue is stable
    plt.close(fig)
    # one axis: the exponent against it, coloured by regime, diverged runs left out
    ax = plot.lyapunov_map(ds.isel(momentum=0))
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    np.testing.assert_allclose(np.sort(ys), np.sort(np.maximum(exponent[:3, 0], -3.0)),
                               rtol=1e-6)
    plt.close("all")
    with pytest.raises(ValueError, match="lyapunov=True"):
        plot.lyapunov_map(ds.drop_vars("lyapunov"))


def test_theory_overlays_sit_on_the_diverged_and_oscillatory_boundaries():
    lrs = lrscape.logspace(1e-3, 0.1, 200)
    betas = [0.0, 0.6, 0.9]
    ds = lrscape.sweep(VALLEY, "momentum", {"learning_rate": lrs, "momentum": betas},
                       steps=500, progress=False)
    diverges, reverses, *_ = plot.theory_overlays(ds, "learning_rate", "momentum")
    for i, beta in enumerate(betas):
        regime = ds.regime.values[:, i]
        first_diverged = lrs[np.argmax(regime == lrscape.Regime.DIVERGED)]
        first_bouncing = lrs[np.argmax(regime == lrscape.Regime.OSCILLATORY)]
        assert first_diverged == pytest.approx(np.interp(beta, diverges[2], diverges[1]),
                                               rel=0.03)
        assert first_bouncing == pytest.approx(np.interp(beta, reverses[2], reverses[1]),
                                               rel=0.03)
        # one band each, calm to wild: monotone, ringing, oscillatory, then diverged
        rank = {int(r): i for i, r in enumerate(lrscape.regimes.DISPLAY_ORDER)}
        ranks = np.array([rank[int(r)] for r in regime[regime != lrscape.Regime.PERIODIC]])
        assert np.all(np.diff(ranks) >= 0)


def test_theory_overlays_of_a_slice_use_its_curvature_and_momentum():
    lrs = lrscape.logspace(1e-3, 0.1, 120)
    ds = lrscape.sweep(VALLEY, "momentum", {"learning_rate": lrs, "momentum": [0.0, 0.6],
                                            "wall_curvature": [50.0, 200.0]},
                       steps=300, progress=False)
    for kappa in (50.0, 200.0):
        plane = ds.sel(wall_curvature=kappa)
        diverges, *_ = plot.theory_overlays(plane, "learning_rate", "momentum")
        for i, beta in enumerate([0.0, 0.6]):
            edge = np.interp(beta, diverges[2], diverges[1])
            assert edge == pytest.approx(2 * (1 + beta) / kappa)  # the slice's, not the default
            first_diverged = lrs[np.argmax(plane.regime.values[:, i] == lrscape.Regime.DIVERGED)]
            assert first_diverged == pytest.approx(edge, rel=0.08)  # two grid steps
    diverges, *_ = plot.theory_overlays(ds.sel(momentum=0.6), "learning_rate", "wall_curvature")
    assert diverges[1] * diverges[2] == pytest.approx(np.full(200, 2 * 1.6))  # eta kappa = 3.2


def _steep_bowl(register, declares=True):
    """f(x) = a x_0^2 / 2 + x_1^2 / 20: the top curvature is a (for a >= 0.1) everywhere."""
    import jax.numpy as jnp

    @register("user-steep-bowl" if declares else "user-silent-bowl")
    class SteepBowl(lrscape.landscapes.Landscape):
        a: float = 4.0

        def loss(self, x):
            return 0.5 * self.a * x[0] ** 2 + 0.05 * x[1] ** 2

        def init(self, key):
            return jnp.ones(2)

        def edge_curvature(self):
            return ("a", 1.0) if declares else None

    return SteepBowl


def test_a_user_landscape_that_declares_its_curvature_gets_the_edges(user_registry):
    bowl = _steep_bowl(user_registry)()
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": [0.05, 0.1, 0.3]}, steps=20,
                       progress=False)
    lines = plot.theory_overlays(ds, "learning_rate", None)
    assert [label for label, _, _ in lines] == [
        "gradient descent: diverges beyond ηλ = 2",
        "gradient descent: steepest direction bounces beyond ηλ = 1"]
    assert [xs.tolist() for _, xs, _ in lines] == [[2 / 4.0], [1 / 4.0]]
    assert all(np.isnan(ys).all() for _, _, ys in lines)
    # its curvature field as an axis moves them: eta * a = 2 and 1 along it
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": [0.05, 0.1], "a": [2.0, 8.0]},
                       steps=20, progress=False)
    diverges, bounces, *_ = plot.theory_overlays(ds, "learning_rate", "a")
    np.testing.assert_allclose(diverges[1] * diverges[2], 2.0)
    np.testing.assert_allclose(bounces[1] * bounces[2], 1.0)
    assert [diverges[2].min(), diverges[2].max()] == pytest.approx([2.0, 8.0])
    # a slice of that grid: the slice's curvature
    diverges, *_ = plot.theory_overlays(ds.sel(a=8.0), "learning_rate", None)
    assert diverges[1].tolist() == [2 / 8.0]
    # not registered here (a user's class not imported): no lines, and no error
    assert plot.theory_overlays(ds.assign_attrs(landscape="user-elsewhere"),
                                "learning_rate", "a") == []


def test_a_user_landscape_that_declares_no_curvature_gets_no_edges(user_registry):
    ds = lrscape.sweep(_steep_bowl(user_registry, declares=False)(), "sgd",
                       {"learning_rate": [0.05, 0.1]}, steps=20, progress=False)
    assert plot.theory_overlays(ds, "learning_rate", None) == []


def test_edges_come_from_the_optimizer_and_stay_out_of_its_config():
    import pickle

    momentum = lrscape.optimizers.get("momentum", momentum=0.5)
    assert momentum.edges.name == "heavy ball"
    assert [e.formula for e in momentum.edges.drawn(noisy=True)] == ["2(1+β)", "1+2β"]
    assert float(momentum.edges.diverges.function(0.5)) == 3.0
    assert "edges" not in json.dumps(momentum.config())
    assert pickle.loads(pickle.dumps(momentum)).edges == momentum.edges
    assert lrscape.optimizers.get("adam").edges is None
    assert lrscape.optimizers.from_factory(lambda learning_rate: None).edges is None


def test_cli_list(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "narrow-valley" in out and "momentum" in out and "cosine" in out
    # docstrings' reStructuredText is shown as plain text
    assert ":math:" not in out and "``" not in out
    assert "covariance H/B" in out and "Multiply the rate by `factor`" in out


def test_cli_output_cut_short_by_its_reader_is_not_an_error():
    """``lrscape list | head -1``: the reader closes the pipe before lrscape has written."""
    import subprocess

    read, write = os.pipe()
    os.close(read)  # nobody will read: every write to the pipe fails
    result = subprocess.run([sys.executable, "-c", "import sys; from lrscape.cli import main; "
                             "sys.exit(main())", "list"], stdout=write, stderr=subprocess.PIPE,
                            text=True, timeout=120)
    os.close(write)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_cli_version_names_lrscape_and_jax(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == (
        f"lrscape {lrscape.__version__} (jax {jax.__version__})")


def test_cli_sweep_and_plot(tmp_path, capsys):
    out = tmp_path / "q.zarr"
    code = cli.main(["sweep", "--landscape", "quadratic", "--set", "eigenvalues=1,10",
                     "--optimizer", "sgd", "--lr", "1e-3:1:16:log", "--steps", "100",
                     "--out", str(out), "--no-progress"])
    assert code == 0
    ds = lrscape.open(out)
    assert ds.regime.dims == ("learning_rate",) and ds.sizes["learning_rate"] == 16
    assert json.loads(ds.attrs["landscape_config"])["eigenvalues"] == [1.0, 10.0]
    assert (tmp_path / "q.png").exists()
    # lr beyond 2/10 diverges on the stiff direction
    diverged = ds.learning_rate.values[ds.regime.values == lrscape.Regime.DIVERGED]
    assert diverged.min() > 0.2
    assert cli.main(["plot", str(out), "--out", str(tmp_path / "again.png")]) == 0
    assert (tmp_path / "again.png").exists()


def test_cli_sweep_measures_curvature_and_chaos_and_takes_thresholds(tmp_path):
    out = tmp_path / "c.zarr"
    assert cli.main(["sweep", "--landscape", "double-well", "--optimizer", "sgd", "--lr",
                     "0.5,1.1,1.4", "--steps", "400", "--curvature-every", "100",
                     "--curvature-k", "1", "--lyapunov", "--threshold", "max_period=8",
                     "--out", str(out)]) == 0
    ds = lrscape.open(out)
    assert ds.attrs["curvature_every"] == 100 and ds.attrs["lyapunov"] == 1
    assert json.loads(ds.attrs["thresholds"])["max_period"] == 8
    assert ds.sharpness.sizes["curvature_step"] == 5
    assert ds.lyapunov.values[2] > 0 > ds.lyapunov.values[0]  # chaos at 1.4, a fixed point
    assert (tmp_path / "c.png").exists()
    # the same from a TOML file
    config = tmp_path / "c.toml"
    config.write_text('landscape = "double-well"\noptimizer = "sgd"\nsteps = 400\n'
                      f'out = "{tmp_path / "t.zarr"}"\nplot = ""\ncurvature_every = 100\n'
                      'lyapunov = true\n[grid]\nlearning_rate = [0.5, 1.1, 1.4]\n'
                      '[thresholds]\nmax_period = 8\n')
    assert cli.main(["sweep", "--config", str(config)]) == 0
    xr.testing.assert_identical(lrscape.open(tmp_path / "t.zarr").drop_attrs(),
                                ds.drop_attrs())


def test_cli_takes_one_number_for_a_vector_field(tmp_path):
    """--set eigenvalues=2 reads as the number 2; the field is a sequence, so it is [2]."""
    out = tmp_path / "v.zarr"
    assert cli.main(["sweep", "--landscape", "quadratic", "--set", "eigenvalues=2", "--optimizer",
                     "sgd", "--lr", "0.1,0.4", "--steps", "40", "--schedule",
                     "piecewise-constant", "--schedule-set", "boundaries=20",
                     "--schedule-set", "multipliers=1,0.5", "--out", str(out), "--plot",
                     ""]) == 0
    attrs = lrscape.open(out).attrs
    assert json.loads(attrs["landscape_config"])["eigenvalues"] == [2.0]
    assert json.loads(attrs["schedule_config"])["boundaries"] == [20]


@pytest.mark.filterwarnings("default:.*no trajectory can be labelled CHAOTIC")  # as outside
def test_cli_warnings_are_one_line(tmp_path, capsys):
    assert cli.main(["sweep", "--landscape", "quadratic", "--optimizer", "sgd", "--lr",
                     "0.1,1.5", "--steps", "30", "--out", str(tmp_path / "w.zarr"), "--plot",
                     ""]) == 0
    assert capsys.readouterr().err == (
        "lrscape: warning: 3 record window(s) (steps = 30, record_every = 10): with fewer than "
        "4, no trajectory can be labelled CHAOTIC (a chaotic one reads as OSCILLATORY); record "
        "more often to tell chaos apart\n")


def test_cli_toml_config_with_flags_overriding(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text(
        'landscape = "double-well"\noptimizer = "sgd"\nsteps = 400\nrecord_every = 20\n'
        f'out = "{tmp_path / "dw.zarr"}"\nplot = ""\n'
        '[landscape_fields]\nstart = 0.5\n'
        '[grid]\nlearning_rate = [0.5, 1.1, 1.4]\n'
    )
    assert cli.main(["sweep", "--config", str(config), "--steps", "2000"]) == 0
    ds = lrscape.open(tmp_path / "dw.zarr")
    assert ds.attrs["steps"] == 2000 and ds.attrs["record_every"] == 20
    assert [lrscape.Regime(r).name for r in ds.regime.values] == [
        "MONOTONE", "PERIODIC", "CHAOTIC"]
    assert not (tmp_path / "dw.png").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sweep", "--landscape", "nope"], "unknown landscape 'nope'"),
        (["sweep", "--lr", "1:2"], "expected START:STOP:NUM"),
        (["sweep", "--steps", "0"], "`steps` must be an integer >= 1, got 0"),
        (["sweep", "--set", "wall_curvature=-3"], "wall_curvature` must be > 0, got -3"),
        # an own grid replaces the default one: a CLI hint, not the library's Python one
        (["sweep", "--axis", "momentum=0,0.9"],
         "the grid ['momentum'] has no learning rate: add --lr START:STOP:NUM[:log], or fix "
         "one with --opt learning_rate=VALUE"),
        (["refine", "--axis", "momentum=0:0.9:5", "--axis", "wall_curvature=1:9:5",
          "--coarse", "3"], "has no learning rate: add --lr"),
        (["sweep", "--threshold", "max_periods=8"],
         "`thresholds`: unknown ['max_periods']; the thresholds are ['divergence_ratio'"),
        (["sweep", "--threshold", "max_period=1"], "`max_period` must be an integer >= 2"),
        (["sweep", "--curvature-k", "3"], "`curvature_k` = 3 acts only with `curvature_every`"),
        (["sweep", "--curvature-every", "15"], "`curvature_every` = 15 must be a multiple of "
         "`record_every` = 10"),
        (["sweep", "--curvature-every", "100", "--curvature-iters", "2", "--curvature-k", "3"],
         "`curvature_k` = 3 must be at most `curvature_iters` = 2"),
        (["sweep", "--points", "learning_rate=0.1,0.2", "--lr", "0.1,0.2"],
         "give a grid (--lr, --axis, [grid]: ['learning_rate']) or --points"),
        (["sweep", "--points", "momentum=0.1,0.2"], "the points ['momentum'] have no learning "
         "rate: add --points learning_rate=V1,V2,..."),
        (["sweep", "--points", "learning_rate=0.1,0.2", "--points", "momentum=0.5"],
         "`points` must give every axis the same number of values"),
        (["sweep", "--points", "learning_rate=0.1,0.2", "--plot", "p.png"],
         "a sweep over --points draws no figure"),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path, capsys, argv, message):
    code = cli.main([*argv, "--out", str(tmp_path / "x.zarr")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.zarr")


def test_cli_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    for text, command, message in [
        ("stepz = 3\n", "sweep", r"unknown keys \['stepz'\] \('stepz': did you mean 'steps'"),
        ("chunk_size = 64\n", "refine",
         r"unknown keys \['chunk_size'\] \('chunk_size': a setting of `lrscape sweep` only"),
        ("[points]\nlearning_rate = [0.1]\n", "refine", r"unknown keys \['points'\]"),
        ('steps = "100"\n', "sweep", "`steps` must be an integer, got '100'"),
        ("keep_tail = 1\n", "sweep", "`keep_tail` must be true or false, got 1"),
        ('dtype = "float16"\n', "sweep", "`dtype` must be one of float32, float64"),
        ("grid = 3\n", "sweep", r"`grid` must be a table \(\[grid\]\), got 3"),
    ]:
        bad.write_text(text)
        assert cli.main([command, "--config", str(bad)]) == 2  # a usage error, as argparse's
        assert re.search(message, capsys.readouterr().err)


def _help_entries(command: str, capsys) -> dict[str, str]:
    """``lrscape COMMAND --help``, flag -> its help on one line."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    entries: dict[str, str] = {}
    flag = None
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  --"):
            flag, _, text = line.strip().partition(" ")
            flag = flag.rstrip(",")
            entries[flag] = text.strip()
        elif flag is not None and line.startswith("   "):
            # argparse wraps after a hyphen too ("narrow-" / "valley")
            glue = "" if entries[flag].endswith("-") else " "
            entries[flag] = (entries[flag] + glue + line.strip()).strip()
        else:
            flag = None
    return {k: " ".join(v.split()) for k, v in entries.items()}


def test_cli_sweep_help_has_a_flag_per_observation_with_the_librarys_defaults(capsys):
    import dataclasses
    import inspect

    entries = _help_entries("sweep", capsys)
    assert entries["--record-every"].startswith("N record window in steps")
    assert entries["--record-every"].endswith("must divide --steps (default: 10)")
    assert "(default: not measured)" in entries["--curvature-every"]
    for field in dataclasses.fields(lrscape.observe.Observe):
        flag = "--" + field.name.replace("_", "-")
        assert flag in entries, flag
        if isinstance(field.default, bool):
            assert f"--no-{flag[2:]}" in entries[flag]
            assert entries[flag].endswith(f"(default: {'on' if field.default else 'off'})")
        elif field.default is not None:
            assert entries[flag].endswith(f"(default: {field.default})"), flag
    create = inspect.signature(lrscape.experiment.Experiment.create).parameters
    for name in ("steps", "seed"):
        assert entries[f"--{name}"].endswith(f"(default: {create[name].default})")
    assert entries["--gradient-noise"].endswith("(default: 0)")
    assert entries["--dtype"].endswith("(default: float32)")
    assert entries["--landscape"].endswith("(default: narrow-valley)")
    assert "(default: lrscape-sweep.zarr)" in entries["--out"]
    assert "--points" in entries and "xarray.open_zarr" in entries["--points"]
    refine = _help_entries("refine", capsys)
    assert refine["--coarse"].endswith("(default: 33)")
    assert refine["--by"].endswith("(default: trainable)")
    assert "--points" not in refine and "--record-every" in refine


def test_cli_passes_every_observation_to_the_sweep(tmp_path, monkeypatch):
    """--best and the other fields of Observe reach lrscape.sweep: each given, or at its
    default."""
    import dataclasses

    fields = {f.name: f.default for f in dataclasses.fields(lrscape.observe.Observe)}
    calls = []

    def recording_sweep(**kwargs):
        calls.append(kwargs)
        raise ValueError("recorded")

    monkeypatch.setattr(lrscape, "sweep", recording_sweep)
    assert cli.main(["sweep", "--best", "--keep-tail", "--no-lyapunov", "--curvature-every",
                     "100", "--curvature-iters", "8", "--out", str(tmp_path / "x.zarr")]) == 2
    config = tmp_path / "b.toml"
    config.write_text("best = true\ntrainability = true\nrecord_every = 20\n")
    assert cli.main(["sweep", "--config", str(config), "--no-trainability"]) == 2
    # the command line passes an Observe, which has every field: none is left out
    assert calls[0]["observe"] == lrscape.Observe(**{
        **fields, "best": True, "keep_tail": True, "curvature_every": 100, "curvature_iters": 8})
    assert calls[1]["observe"] == lrscape.Observe(**{**fields, "best": True,
                                                     "record_every": 20})
    assert calls[0]["store"] == str(tmp_path / "x.zarr") and calls[0]["records"] is False
    assert calls[0]["steps"] == 1000 and calls[0]["chunk_size"] is None


def test_cli_keeps_tails_and_trainability_in_the_store(tmp_path):
    out = tmp_path / "tails.zarr"
    assert cli.main(["sweep", "--landscape", "double-well", "--optimizer", "sgd", "--lr",
                     "0.5,1.1", "--steps", "200", "--keep-tail", "--trainability",
                     "--out", str(out), "--plot", "", "--no-progress"]) == 0
    ds = lrscape.open(out)
    assert ds.attrs["keep_tail"] == 1 and ds.attrs["trainability"] == 1
    assert ds.tail_loss.dims == ("learning_rate", "tail")
    assert ds.trainability.dims == ds.trainable.dims == ("learning_rate",)
    direct = lrscape.sweep("double-well", "sgd", {"learning_rate": [0.5, 1.1]}, steps=200,
                           keep_tail=True, trainability=True, progress=False)
    xr.testing.assert_equal(ds, direct)


def test_cli_sweeps_a_list_of_points_from_flags_and_from_toml(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["sweep", "--landscape", "quadratic", "--optimizer", "momentum",
                     "--points", "learning_rate=0.1,1.5,3.5", "--points", "momentum=0,0,0.5",
                     "--steps", "40"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["point", "learning_rate", "momentum", "regime", "period",
                                "final_loss"]
    assert [line.split()[1:4] for line in lines[1:]] == [
        ["0.1", "0", "MONOTONE"], ["1.5", "0", "OSCILLATORY"], ["3.5", "0.5", "DIVERGED"]]
    assert os.listdir(tmp_path) == []  # without --out, nothing is written
    # the same points from a TOML file, with tails, written where `out` says
    out = tmp_path / "points.zarr"
    config = tmp_path / "points.toml"
    config.write_text('landscape = "quadratic"\noptimizer = "momentum"\nsteps = 40\n'
                      f'keep_tail = true\nout = "{out}"\n'
                      '[points]\nlearning_rate = [0.1, 1.5, 3.5]\nmomentum = "0,0,0.5"\n')
    assert cli.main(["sweep", "--config", str(config)]) == 0
    assert f"wrote {out}: the Dataset of 3 points" in capsys.readouterr().out
    points = {"learning_rate": [0.1, 1.5, 3.5], "momentum": [0.0, 0.0, 0.5]}
    direct = lrscape.sweep("quadratic", "momentum", points=points, steps=40, keep_tail=True,
                           progress=False)
    written = xr.open_zarr(out).load()
    assert written.tail_loss.dims == ("point", "tail")
    xr.testing.assert_equal(written, direct)
    assert cli.main(["sweep", "--config", str(config), "--steps", "20"]) == 0  # replaced
    assert xr.open_zarr(out).attrs["steps"] == 20
    # a sweep's store is never replaced by points
    grid_store = tmp_path / "grid.zarr"
    lrscape.sweep("quadratic", "sgd", {"learning_rate": [0.1]}, steps=20,
                  store=str(grid_store), progress=False)
    assert cli.main(["sweep", "--config", str(config), "--out", str(grid_store)]) == 2
    assert "exists and is not a sweep over points" in capsys.readouterr().err
    assert lrscape.open(grid_store).sizes["learning_rate"] == 1


# -- --import: the user's own landscapes on the command line ----------------------------------

BOWL_MODULE = '''
import jax.numpy as jnp
import lrscape


@lrscape.landscapes.register("{name}")
class TiltedBowl(lrscape.landscapes.Landscape):
    """f(x) = a x_0^2 / 2 + x_1^2 / 2 + x_1 / 2."""

    a: float = 10.0

    def loss(self, x):
        return 0.5 * self.a * x[0] ** 2 + 0.5 * x[1] ** 2 + 0.5 * x[1]

    def init(self, key):
        return jnp.ones(2)
'''


@pytest.fixture
def user_module(tmp_path, user_registry, monkeypatch):
    """A function writing a module that registers a landscape; the module, its landscape and
    any change to ``sys.path`` are forgotten after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))

    def write(module: str, name: str, folder=tmp_path):
        path = folder / f"{module}.py"
        path.write_text(BOWL_MODULE.format(name=name))
        monkeypatch.delitem(sys.modules, module, raising=False)
        return path

    return write


def _first_diverged(ds, a):
    column = ds.regime.sel(a=a).values
    return ds.learning_rate.values[np.argmax(column == lrscape.Regime.DIVERGED)]


def test_cli_import_a_file_sweeps_a_users_landscape_to_its_stability_edge(
        tmp_path, user_module, capsys):
    path = user_module("cli_file_bowls", "cli-file-bowl")
    out = tmp_path / "bowl.zarr"
    assert cli.main(["sweep", "--import", str(path), "--landscape", "cli-file-bowl",
                     "--optimizer", "sgd", "--lr", "0.05:1.5:96:log", "--axis", "a=2,5,20",
                     "--steps", "300", "--out", str(out), "--plot", ""]) == 0
    ds = lrscape.open(out)
    assert ds.attrs["landscape"] == "cli-file-bowl"
    for a in (2.0, 5.0, 20.0):  # gradient descent diverges just above 2 / a
        assert 2 / a < _first_diverged(ds, a) < 2 / a * 1.05
    assert cli.main(["list", "landscapes", "--import", str(path)]) == 0
    assert "cli-file-bowl" in capsys.readouterr().out


def test_cli_import_a_module_by_name_from_the_current_directory(
        tmp_path, user_module, monkeypatch):
    user_module("cli_named_bowls", "cli-named-bowl")
    monkeypatch.chdir(tmp_path)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", str(tmp_path))]
    assert cli.main(["sweep", "--import", "cli_named_bowls", "--landscape", "cli-named-bowl",
                     "--optimizer", "sgd", "--lr", "0.5,1.1", "--axis", "a=2",
                     "--steps", "50", "--out", "named.zarr", "--plot", ""]) == 0
    regimes = lrscape.open(tmp_path / "named.zarr").regime.values.ravel()
    assert list(regimes) == [lrscape.Regime.MONOTONE, lrscape.Regime.DIVERGED]


def test_cli_toml_import_is_found_next_to_the_config_file(tmp_path, user_module, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    user_module("cli_toml_bowls", "cli-toml-bowl", folder)
    (folder / "sweep.toml").write_text(
        'import = "cli_toml_bowls.py"\nlandscape = "cli-toml-bowl"\noptimizer = "sgd"\n'
        'steps = 50\nplot = ""\n[grid]\nlearning_rate = [0.5, 1.1]\na = [2.0]\n')
    monkeypatch.chdir(tmp_path)  # not the config's folder
    assert cli.main(["sweep", "--config", "project/sweep.toml", "--out", "toml.zarr"]) == 0
    assert lrscape.open(tmp_path / "toml.zarr").attrs["landscape"] == "cli-toml-bowl"


def test_cli_import_errors_name_the_flag_and_the_value(tmp_path, user_module, capsys):
    broken = tmp_path / "needs_missing.py"
    broken.write_text("import lrscape_no_such_dependency\n")
    (tmp_path / "json.py").write_text("")  # would shadow the standard library's
    for spec, message in [
        (str(tmp_path / "nope.py"), f"--import {str(tmp_path / 'nope.py')!r}: no such file"),
        ("cli_no_such_module", "--import 'cli_no_such_module': no module named "
                               "'cli_no_such_module' in the current directory or on sys.path"),
        (str(broken), f"--import {str(broken)!r}: No module named "
                      "'lrscape_no_such_dependency'"),
        (str(tmp_path / "json.py"), "a module named 'json' is already imported"),
    ]:
        assert cli.main(["sweep", "--import", spec, "--out", str(tmp_path / "x.zarr")]) == 2
        assert message in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "x.zarr")
    assert "needs_missing" not in sys.modules
    bad = tmp_path / "bad.toml"
    bad.write_text("import = 3\n")
    assert cli.main(["sweep", "--config", str(bad)]) == 2  # a usage error, as argparse's
    assert "`import` must be a module name, a .py path or a list" in capsys.readouterr().err
