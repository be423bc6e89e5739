"""Recorded paths, the planes they are seen in, running a sweep's points again, and the
pictures of paths: against a plain Python loop and closed forms."""

import json
import warnings

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
import pytest
import xarray as xr
from matplotlib.contour import ContourSet

import lrscape
from lrscape import Observe, cli, plot
from lrscape.plot import _path_data
from lrscape.rerun import NotRebuildable

VALLEY = lrscape.landscapes.get("narrow-valley")
GRID = {"learning_rate": [0.004, 0.02, 0.06], "momentum": [0.0, 0.5]}


def _plain_heavy_ball(landscape, eta, beta, steps, x0=None):
    """optax's heavy ball on ``landscape``, as a user writes the loop: every iterate (the start
    first) until the loss passes 1e6 times its start, then NaN."""
    x = landscape.init(None) if x0 is None else jnp.asarray(x0, jnp.float32)
    opt = optax.sgd(eta, momentum=beta)
    state = opt.init(x)
    limit = 1e6 * float(landscape.loss(x))
    out = [np.asarray(x)]
    for _ in range(steps):
        loss, grad = jax.value_and_grad(landscape.loss)(x)
        if not loss <= limit:
            break
        updates, state = opt.update(grad, state, x)
        x = optax.apply_updates(x, updates)
        out.append(np.asarray(x))
    return np.concatenate([out, np.full((steps + 1 - len(out), x.size), np.nan)])


@pytest.mark.parametrize("record_every, path_every", [(10, 1), (6, 3), (5, 10)])
def test_the_recorded_path_of_a_2d_sweep_is_the_plain_loops_iterate(record_every, path_every):
    """On a landscape of two coordinates the path is the iterate itself, at the start and every
    ``path_every`` updates, NaN once diverged (eta = 0.06 diverges on walls of curvature 100)."""
    ds = lrscape.sweep(VALLEY, "momentum", GRID, steps=60, progress=False,
                       observe=Observe(record_every=record_every, path_every=path_every))
    assert ds.path.dims == ("learning_rate", "momentum", "path_step", "plane")
    assert ds.path_step.values.tolist() == list(range(0, 61, path_every))
    assert ds.attrs["path_every"] == path_every and ds.attrs["path_plane"].startswith(
        "coordinates")
    np.testing.assert_array_equal(ds.path_basis.values, np.eye(2))
    np.testing.assert_array_equal(ds.path_origin.values, np.zeros(2))
    for eta in GRID["learning_rate"]:
        for beta in GRID["momentum"]:
            plain = _plain_heavy_ball(VALLEY, eta, beta, 60)[::path_every]
            recorded = ds.path.sel(learning_rate=eta, momentum=beta).values
            np.testing.assert_allclose(recorded, plain, rtol=1e-6, atol=0)
            np.testing.assert_array_equal(np.isnan(recorded), np.isnan(plain))
    assert np.isnan(ds.path.sel(learning_rate=0.06).values[:, -1]).all()  # diverged
    finite = ds.path_distance.values[np.isfinite(ds.path_distance.values)]
    assert finite.size and np.all(finite == 0.0)


def _rotated_quadratic():
    eigenvalues = np.array([20.0, 10.0, 3.0, 1.0, 0.5, 0.2])
    quad = lrscape.landscapes.get("quadratic", eigenvalues=eigenvalues, rotation_seed=4)
    return quad, eigenvalues, np.asarray(quad.basis)  # H = Q diag(h) Q^T, columns Q


def test_an_nd_quadratics_path_is_seen_in_its_top_two_eigenplane():
    """The plane is the top two Hessian eigenvectors at the start, through the start. Started
    in their span, gradient descent stays in it: distance 0 to rounding, and coordinates
    c_i ((1 - eta h_i)^t - 1) along each. Started off it, the distance is the norm of the
    rest's motion, sqrt(sum_i>2 c_i^2 ((1 - eta h_i)^t - 1)^2)."""
    quad, h, q = _rotated_quadratic()
    c = np.array([0.7, -0.4, 0.3, 0.5, -0.2, 0.6])
    for x0, in_plane in ((q[:, :2] @ c[:2], True), (q @ c, False)):
        ds = lrscape.sweep(quad, "sgd", {"learning_rate": [0.02, 0.07]}, steps=40, x0=x0,
                           dtype=jnp.float64, progress=False,
                           observe=Observe(record_every=10, path_every=1))
        assert ds.attrs["path_plane"].startswith("hessian")
        basis = ds.path_basis.values
        np.testing.assert_allclose(np.abs(basis @ q[:, :2]), np.eye(2), atol=1e-12)
        np.testing.assert_allclose(ds.path_origin.values, x0, atol=1e-15)
        t = ds.path_step.values[:, None]
        for eta in (0.02, 0.07):
            moved = c * ((1 - eta * h) ** t - 1)  # along each eigenvector, from the start
            recorded = ds.path.sel(learning_rate=eta).values
            np.testing.assert_allclose(np.abs(recorded), np.abs(moved[:, :2]), atol=1e-12)
            distance = ds.path_distance.sel(learning_rate=eta).values
            expected = 0.0 if in_plane else np.sqrt(np.sum(moved[:, 2:] ** 2, axis=1))
            np.testing.assert_allclose(distance, expected, atol=1e-12)


def test_a_valley_with_several_walls_is_seen_along_its_floor_and_across_it():
    """Equal wall curvatures would leave the floor out of the Hessian's top two; the valley
    declares its floor and the start's wall direction, and a symmetric start stays in it."""
    valley = lrscape.landscapes.get("narrow-valley", dim=4)
    ds = lrscape.sweep(valley, "momentum", {"learning_rate": [0.005, 0.025], "momentum": [0.5]},
                       steps=100, dtype=jnp.float64, progress=False,
                       observe=Observe(record_every=10, path_every=1))
    assert ds.attrs["path_plane"].startswith("landscape")
    np.testing.assert_allclose(ds.path_basis.values,
                               [[1, 0, 0, 0], [0, *(np.ones(3) / np.sqrt(3))]], atol=1e-15)
    assert float(ds.path_distance.max()) < 1e-12
    # down the floor all along; across it, steps that reverse where it bounces (ηκ = 2.5,
    # between heavy ball's 1+β and 2(1+β)), not where it rings (ηκ = 0.5)
    for eta, bounces in ((0.005, False), (0.025, True)):
        floor, across = ds.path.sel(learning_rate=eta, momentum=0.5).values.T
        steps = np.diff(across)[:20]
        assert np.all(np.diff(floor) <= 0)
        assert np.any(steps[1:] * steps[:-1] < 0) == bounces


def test_a_given_plane_is_orthonormalised_and_bad_planes_are_refused():
    quad, _, _ = _rotated_quadratic()
    plane = lrscape.Plane([[1, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0]], origin=np.zeros(6))
    np.testing.assert_allclose(plane.basis @ plane.basis.T, np.eye(2), atol=1e-15)
    ds = lrscape.sweep(quad, "sgd", {"learning_rate": [0.02]}, steps=20, progress=False,
                       observe=Observe(record_every=10, path_every=5, path_plane=plane))
    assert ds.attrs["path_plane"].startswith("given") and plane.digest() in ds.attrs[
        "path_plane"]
    np.testing.assert_allclose(ds.path_basis.values, plane.basis)
    for bad, message in [
            (dict(path_every=5, path_plane=lrscape.Plane(np.eye(3)[:2])),
             "the basis vectors have 3 components; the landscape 'quadratic' has 6"),
            (dict(path_plane="hessian"), "`path_plane` = 'hessian' acts only with `path_every`"),
            (dict(path_every=5, path_plane="pca"), "`path_plane` must be 'auto', 'hessian'"),
            (dict(path_every=4), "`path_every` = 4 must divide `record_every` = 10"),
            (dict(path_every=0), "`path_every` must be an integer >= 1")]:
        with pytest.raises(ValueError, match=message):
            lrscape.sweep(quad, "sgd", {"learning_rate": [0.02]}, steps=20, progress=False,
                          observe=Observe(record_every=10, **bad))
    with pytest.raises(ValueError, match="linearly independent"):
        lrscape.Plane([[1, 0], [2, 0]])


def test_paths_are_stored_and_read_back_for_a_sub_grid(tmp_path):
    store = str(tmp_path / "p.zarr")
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.05, 16), "momentum": [0.0, 0.5, 0.9]}
    observe = Observe(record_every=10, path_every=2)
    ds = lrscape.sweep(VALLEY, "momentum", grid, steps=40, store=store, chunk_size=8,
                       progress=False, observe=observe)
    part = lrscape.open(store, isel={"learning_rate": [2, 11], "momentum": [1]})
    xr.testing.assert_identical(part, ds.isel(learning_rate=[2, 11], momentum=[1]))
    flat = xr.open_zarr(store)  # plain xarray: trajectories flat, the plane as coordinates
    assert flat.path.dims == ("trajectory", "path_step", "plane")
    assert flat.path_basis.dims == ("plane", "parameter")
    lean = lrscape.open(store, records=False)  # no paths, but still where they would lie
    assert "path" not in lean and "path_basis" in lean.coords
    with pytest.raises(ValueError, match="holds a different sweep .*path_every"):
        lrscape.sweep(VALLEY, "momentum", grid, steps=40, store=store, progress=False,
                      observe=Observe(record_every=10, path_every=5))


def test_rerun_runs_a_sweeps_points_again_with_their_paths(tmp_path, user_registry):
    store = str(tmp_path / "s.zarr")
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.05, 10), "momentum": [0.0, 0.5, 0.9]}
    lrscape.sweep(VALLEY, "momentum", grid, steps=200, store=store, progress=False,
                  records=False)
    ds = lrscape.open(store)
    points = [{"learning_rate": float(ds.learning_rate[i]), "momentum": m}
              for i, m in ((1, 0.0), (5, 0.9), (8, 0.5))]
    again = lrscape.rerun(ds, points)
    assert again.path.sizes["path_step"] == 201  # every update, the start included
    for i, point in enumerate(points):
        stored = ds.sel(point)
        assert int(again.regime[i]) == int(stored.regime)
        np.testing.assert_array_equal(again.loss_mean.values[i], stored.loss_mean.values)
    # a slice: its held values count as given; any values, not only the grid's
    off_grid = lrscape.rerun(ds.sel(momentum=0.5), [{"learning_rate": 0.0123}])
    assert off_grid.momentum.values.tolist() == [0.5]
    np.testing.assert_allclose(off_grid.path.values[0, :3],
                               _plain_heavy_ball(VALLEY, 0.0123, 0.5, 2), rtol=1e-6)
    with pytest.raises(ValueError, match="leaves the grid axis 'momentum' unset"):
        lrscape.rerun(ds, [{"learning_rate": 0.01}])
    with pytest.raises(ValueError, match=r"names \['seed'\], which are not grid axes"):
        lrscape.rerun(ds, [{"learning_rate": 0.01, "momentum": 0.0, "seed": 1}])
    # what this process cannot rebuild is asked for, by name, before anything runs
    for attrs, message in [
            ({"landscape": "not-registered-here"}, "'not-registered-here' is not registered"),
            ({"optimizer": "halved_sgd"}, "'halved_sgd' is not in lrscape's registry"),
            ({"schedule": "function"}, "schedule 'function' is a function")]:
        with pytest.raises(NotRebuildable, match=message):
            lrscape.rerun(ds.assign_attrs(**attrs), points)


@pytest.mark.slow
def test_rerun_takes_what_the_attributes_cannot_rebuild_and_checks_it():
    """An optax factory of one's own and a schedule given as a function, given again: the
    same trajectories; a different function is refused."""

    def halved_sgd(learning_rate):
        return optax.sgd(learning_rate / 2)

    own = lrscape.sweep(VALLEY, halved_sgd, {"learning_rate": [0.01]}, steps=20,
                        progress=False)
    again = lrscape.rerun(own, [{"learning_rate": 0.01}], optimizer=halved_sgd)
    np.testing.assert_array_equal(again.loss_mean.values[0], own.loss_mean.values[0])
    # a schedule given as a function must be given again, and be the same one
    def halving(t):
        return 0.5 ** (t // 10)

    scheduled = lrscape.sweep(VALLEY, "sgd", {"learning_rate": [0.01]}, steps=20,
                              schedule=halving, progress=False)
    with pytest.raises(ValueError, match="cannot be rebuilt .*schedule_config"):
        lrscape.rerun(scheduled, [{"learning_rate": 0.01}], schedule=lambda t: 0.9 ** t)
    again = lrscape.rerun(scheduled, [{"learning_rate": 0.01}], schedule=halving)
    np.testing.assert_array_equal(again.loss_mean.values[0], scheduled.loss_mean.values[0])


def _path_lines(ax):
    return [line for line in ax.get_lines() if (line.get_gid() or "").startswith("path ")]


@pytest.fixture(scope="module")
def valley_sweep():
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 24), "momentum": [0.0, 0.5, 0.8, 0.95]}
    return lrscape.sweep(VALLEY, "momentum", grid, steps=400, progress=False)


def test_plot_paths_draws_a_line_per_point_over_the_contours(valley_sweep):
    points = [{"learning_rate": 0.003, "momentum": 0.0}, {"learning_rate": 0.019, "momentum": 0.0},
              {"learning_rate": 0.05, "momentum": 0.5}]
    ax = plot.paths(valley_sweep, points)
    assert any(isinstance(c, ContourSet) for c in ax.collections)
    lines = _path_lines(ax)
    assert [line.get_gid() for line in lines] == ["path A", "path B", "path C"]
    # the sweep kept no paths: the points themselves ran again, not the nearest grid points
    traced = lrscape.rerun(valley_sweep, points)
    regimes = [lrscape.Regime(int(r)) for r in traced.regime]
    assert regimes[1] == lrscape.Regime.OSCILLATORY  # eta kappa = 1.9
    assert [line.get_color() for line in lines] == [plot.REGIME_COLORS[r] for r in regimes]
    assert regimes[2] == lrscape.Regime.DIVERGED and lines[2].get_linestyle() == "--"
    # the positions drawn are the iterates (the plain loop's), up to the window shown
    end = int(ax.get_title().split("updates 0 to ")[1].split(" ")[0])
    xy = np.stack(lines[1].get_data(), axis=1)
    np.testing.assert_allclose(xy, _plain_heavy_ball(VALLEY, float(traced.learning_rate[1]),
                                                     0.0, end), rtol=1e-6)
    assert "x[0] (along the floor)" == ax.get_xlabel()
    assert "x[1] (across the valley)" == ax.get_ylabel()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("A: learning rate=0.003") and "start" in labels
    plt.close("all")


def test_the_window_ends_where_the_bounce_has_died():
    """Gradient descent at eta kappa = 1.9 bounces with amplitude 0.9^t: its last turn larger
    than 1% of its first is near t* = ln(0.01) / ln(0.9), and the window is 1.5 times that."""
    ds = lrscape.sweep(VALLEY, "sgd", {"learning_rate": [0.019]}, steps=1000, progress=False,
                       observe=Observe(path_every=1))
    drawn = _path_data.collect(ds, [{"learning_rate": 0.019}])
    turn = np.log(0.01) / np.log(0.9)
    assert 1.5 * turn <= plot.window(drawn, 1000) <= 1.5 * (turn + 3)
    # a path that never turns (a slide down a bowl) is drawn whole
    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 0.5])
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": [0.1]}, steps=200, progress=False,
                       observe=Observe(path_every=1))
    assert plot.window(_path_data.collect(ds, [{"learning_rate": 0.1}]), 200) == 200


def test_the_animation_has_the_frames_asked_for(valley_sweep, tmp_path):
    from PIL import Image

    points = [{"learning_rate": 0.019, "momentum": 0.0}, {"learning_rate": 0.004,
                                                          "momentum": 0.9}]
    for frames in (5, 12):
        path = plot.animate_paths(valley_sweep, points, str(tmp_path / f"a{frames}.gif"),
                                  frames=frames)
        with Image.open(path) as movie:
            assert movie.n_frames == frames
    with pytest.raises(ValueError, match="must end in .gif or .mp4"):
        plot.animate_paths(valley_sweep, points, str(tmp_path / "a.txt"))
    with pytest.raises(ValueError, match="`frames` must be an integer >= 1"):
        plot.animate_paths(valley_sweep, points, str(tmp_path / "a.gif"), frames=0)


def test_the_summary_figure_letters_its_trajectories_on_every_panel(valley_sweep):
    fig = plot.summary_figure(valley_sweep)
    phase, loss, paths = fig.axes[:3]
    points = plot.representative_points(valley_sweep, "learning_rate", "momentum")
    letters = [chr(ord("A") + i) for i in range(len(points))]
    assert [t.get_text() for t in phase.texts] == letters
    marked = [t.xy for t in phase.texts]
    for (x, y), point in zip(marked, points, strict=True):  # four uneven momenta: categories
        assert x == point["learning_rate"]
        assert y == valley_sweep.momentum.values.tolist().index(point["momentum"])
    legend = [t.get_text() for t in loss.get_legend().get_texts()]
    assert [label[:3] for label in legend] == [f"{letter}: " for letter in letters]
    assert paths.get_title().startswith("paths over the loss")
    assert [line.get_gid() for line in _path_lines(paths)] == [f"path {x}" for x in letters]
    colours = {line.get_gid()[-1]: line.get_color() for line in _path_lines(paths)}
    for letter, line in zip(letters, [line for line in loss.get_lines() if line.get_label()[
            :3] in {f"{x}: " for x in letters}], strict=True):
        assert line.get_color() == colours[letter]
    plt.close("all")


def test_a_one_dimensional_sweep_fills_its_figure_and_draws_paths_on_the_loss():
    well = lrscape.landscapes.get("double-well")
    ds = lrscape.sweep(well, "sgd", {"learning_rate": lrscape.linspace(0.3, 2.2, 40)},
                       steps=400, progress=False)
    fig = plot.summary_figure(ds)
    assert len(fig.axes) == 3  # the strip, the losses and the paths on the loss line
    assert all(ax.has_data() for ax in fig.axes)
    line = fig.axes[2]
    assert line.get_xlabel() == "x[0]" and line.get_ylabel() == "loss"
    # every path's letter stands inside the panel, those that converge to the minimum too
    # (loss 0: a linear scale), and no two on top of each other
    fig.canvas.draw()
    box = line.get_window_extent()
    letters = [t for t in line.texts if len(t.get_text()) == 1]
    assert len(letters) == len(plot.representative_points(ds, "learning_rate", None))
    extents = [t.get_window_extent() for t in letters]
    assert all(box.x0 - 20 <= e.x0 and e.y1 <= box.y1 + 20 and e.y0 >= box.y0 - 20
               for e in extents)
    assert not any(a.overlaps(b) for i, a in enumerate(extents) for b in extents[i + 1:])
    plt.close("all")


def test_a_loss_that_reaches_zero_is_marked_where_it_stops():
    well = lrscape.landscapes.get("double-well")
    ds = lrscape.sweep(well, "sgd", {"learning_rate": [0.5, 0.77]}, steps=200, progress=False)
    assert (ds.loss_mean.values == 0).any()  # float32 underflows near the minimum
    ax = plot.loss_curves(ds, [{"learning_rate": 0.5}, {"learning_rate": 0.77}])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert all("0 in float32 from step" in label for label in labels)
    ends = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(ends) == 2
    # 0.5 reaches 0 within its second window: its one record above 0 drawn as a point
    assert [line.get_marker() for line in ax.get_lines()[:1]] == ["."]
    plt.close("all")


def test_the_cli_draws_any_points_path_and_animates_it(tmp_path, capsys):
    store = str(tmp_path / "v.zarr")
    assert cli.main(["sweep", "--lr", "1e-3:0.05:8:log", "--axis", "momentum=0,0.5",
                     "--steps", "100", "--out", store, "--path-every", "5"]) == 0
    assert xr.open_zarr(store).path.sizes["path_step"] == 21
    out, gif = str(tmp_path / "p.png"), str(tmp_path / "p.gif")
    assert cli.main(["plot", store, "--point", "learning_rate=0.0123,momentum=0.25",
                     "--out", out, "--animate", gif, "--frames", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and f"wrote {gif}" in printed
    from PIL import Image

    with Image.open(gif) as movie:
        assert movie.n_frames == 4
    for argv, message in [
            (["--point", "learning_rate=0.01"], "must give a value on each axis drawn"),
            (["--point", "lr=0.01,momentum=0"], "lr is not an axis drawn"),
            (["--point", "learning_rate=x,momentum=0"], "--point expects AXIS=NUMBER"),
            (["--point", "learning_rate=nan,momentum=0"], "--point expects AXIS=NUMBER"),
            (["--point", "learning_rate=0.01,learning_rate=0.02"], "gives learning_rate twice"),
            (["--point", "learning_rate=0.01,momentum=2.5"],
             "'momentum'] = 2.5 is outside the grid's momentum axis"),
            (["--animate", str(tmp_path / "a.avi")], "must end in .gif or .mp4")]:
        assert cli.main(["plot", store, "--out", out, *argv]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "a.avi").exists()


def test_points_given_are_drawn_where_they_are_even_beside_stored_paths(tmp_path, monkeypatch):
    """A sweep that kept its paths draws its one-per-regime trajectories from them (nothing
    run again, the animation too); a point given runs again exactly where it is, not at the
    nearest grid point; paths=False leaves the panel out."""
    store = str(tmp_path / "v.zarr")
    lrscape.sweep(VALLEY, "momentum", {"learning_rate": [0.005, 0.01, 0.02, 0.04],
                                       "momentum": [0.0, 0.5, 0.9]}, steps=100, store=store,
                  progress=False, observe=Observe(record_every=10, path_every=1))
    ds = lrscape.open(store, records=False)
    ran = []
    import lrscape.plot._summary as summary

    original = summary.rerun
    monkeypatch.setattr(summary, "rerun", lambda *a, **k: ran.append(a) or original(*a, **k))
    fig = plot.summary_figure(ds, store=store, animate=str(tmp_path / "a.gif"), frames=3)
    assert not ran and (tmp_path / "a.gif").exists()
    assert len(_path_lines(fig.axes[2])) == len(plot.representative_points(
        ds, "learning_rate", "momentum"))
    plt.close(fig)
    point = {"learning_rate": 0.029, "momentum": 0.1}  # diverges; its nearest grid point not
    fig = plot.summary_figure(ds, store=store, points=[point])
    assert len(ran) == 1
    (line,) = _path_lines(fig.axes[2])
    assert line.get_color() == plot.REGIME_COLORS[lrscape.Regime.DIVERGED]
    assert int(lrscape.rerun(ds, [point]).regime[0]) == lrscape.Regime.DIVERGED
    assert int(ds.regime.sel(point, method="nearest")) != lrscape.Regime.DIVERGED
    plt.close(fig)
    fig = plot.summary_figure(ds, store=store, paths=False)
    assert not any(ax.get_title().startswith("paths") for ax in fig.axes)
    plt.close("all")
    assert json.loads(xr.open_zarr(store).attrs["grid_axes"])[0][0] == "learning_rate"


def test_a_stored_path_off_the_grid_is_drawn_at_the_nearest_point_with_a_warning():
    ds = lrscape.sweep(VALLEY, "momentum", {"learning_rate": [0.005, 0.01, 0.02],
                                            "momentum": [0.0, 0.5]}, steps=40, progress=False,
                       observe=Observe(record_every=10, path_every=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on the grid: drawn as it is, nothing said
        plot.paths(ds, [{"learning_rate": 0.01, "momentum": 0.5}])
    with pytest.warns(UserWarning, match=r"learning_rate=0.012 -> 0.01"):
        ax = plot.paths(ds, [{"learning_rate": 0.012, "momentum": 0.5}])
    assert [line.get_gid() for line in _path_lines(ax)] == ["path A"]
    plt.close("all")


def test_the_diverging_trajectory_drawn_swings_before_it_leaves(valley_sweep):
    """Of the diverged trajectories the summary draws one that lasts longer than most (the
    90th percentile of the divergence step), so its path shows the swings growing."""
    points = plot.representative_points(valley_sweep, "learning_rate", "momentum")
    regimes = [lrscape.Regime(int(valley_sweep.regime.sel(p))) for p in points]
    diverged = valley_sweep.divergence_step.where(
        valley_sweep.regime == int(lrscape.Regime.DIVERGED))
    timed = diverged.values[np.isfinite(diverged.values) & (diverged.values >= 0)]
    chosen = int(valley_sweep.divergence_step.sel(points[regimes.index(
        lrscape.Regime.DIVERGED)]))
    assert chosen >= np.percentile(timed, 50) and chosen >= 2
