"""The trainability boundary (issue 5): per-group hyperparameters, the trainability score,
adaptive refinement against brute force, box counting, and zooms to float64's limit."""

import dataclasses

import jax
import numpy as np
import pytest
import xarray as xr

import lrscape
from lrscape import cli, fractal
from lrscape.refine import MIN_ULPS_PER_PIXEL, ulps_per_pixel, zoom, zoom_axis

#: The paper's network, smaller (width 8, as its notebook's default) so tests stay quick.
NET = lrscape.landscapes.get("mlp", width=8, depth=1, input_dim=8,
                             parameterization="mean-field", bias=False, task="random",
                             data_ratio=1.0, label_noise=0.0)
LR_IN, LR_OUT = "learning_rate@input", "learning_rate@output"


def test_per_group_learning_rates_equal_a_hand_written_per_layer_update():
    uv = lrscape.landscapes.get("uv-model", width=4, target=0.5)
    lr_u, lr_v = np.array([0.05, 0.3]), np.array([0.1, 0.7])
    ds = lrscape.sweep(uv, "sgd", {"learning_rate@u": lr_u, "learning_rate@v": lr_v},
                       steps=50, record_every=1, dtype="float64", progress=False)
    with jax.enable_x64(True):  # the start as the float64 sweep draws it, in float64
        u0, v0 = (np.asarray(p) for p in uv.init(jax.random.key(0)))
    for i, a in enumerate(lr_u):
        for j, b in enumerate(lr_v):
            u, v = u0.copy(), v0.copy()
            losses = []
            for _ in range(50):
                residual = v @ u / 2.0 - 0.5  # sqrt(width) = 2
                losses.append(0.5 * residual**2)
                u, v = u - a * residual * v / 2.0, v - b * residual * u / 2.0
            np.testing.assert_allclose(ds.loss_last.values[i, j], losses, rtol=1e-9,
                                       atol=1e-20)


def test_the_papers_network_is_gain_sqrt2_with_both_rates_doubled():
    """Sohl-Dickstein's network, written out in NumPy as the paper states it (pre-activations
    times sqrt 2, mean squared error without lrscape's 1/2): gradient descent with rates
    (eta_in, eta_out) on it is lrscape's MLP(gain=sqrt 2) at (2 eta_in, 2 eta_out), and a
    paper-loss twice lrscape's at every step."""
    net = dataclasses.replace(NET, gain=np.sqrt(2.0))
    eta_in, eta_out, steps = 3.0, 40.0, 30
    ds = lrscape.sweep(net, "sgd", {LR_IN: [2 * eta_in], LR_OUT: [2 * eta_out]}, steps=steps,
                       record_every=1, dtype="float64", progress=False)
    with jax.enable_x64(True):
        start = net.init(jax.random.key(0))
        w, a = np.asarray(start["W1"]), np.asarray(start["a"])
        x, y = np.asarray(net.inputs), np.asarray(net.targets)
    width, d = a.size, x.shape[1]
    losses = []
    for _ in range(steps):
        hidden = np.tanh(np.sqrt(2.0) * x @ w / np.sqrt(d))
        residual = hidden @ a / width - y
        losses.append(np.mean(residual**2))
        d_out = 2 * residual / residual.size  # d(paper loss) / d(output)
        grad_a = hidden.T @ d_out / width
        grad_w = x.T @ ((d_out[:, None] * a / width) * (1 - hidden**2)) * np.sqrt(2.0 / d)
        w, a = w - eta_in * grad_w, a - eta_out * grad_a
    np.testing.assert_allclose(2 * ds.loss_last.values.ravel(), losses, rtol=1e-9)


def test_a_global_axis_fills_the_groups_without_their_own():
    grid = {"learning_rate": [0.02, 0.2], "learning_rate@output": [0.5]}
    mixed = lrscape.sweep(NET, "sgd", grid, steps=40, dtype="float64", progress=False)
    same = lrscape.sweep(NET, "sgd", {LR_IN: [0.02, 0.2], LR_OUT: [0.5]}, steps=40,
                         dtype="float64", progress=False)
    np.testing.assert_array_equal(mixed.loss_mean.values, same.loss_mean.values)


@pytest.mark.parametrize("grid, message", [
    ({"learning_rate@middle": [0.1]}, "has no parameter group 'middle'; its groups are: "
                                      "input, output"),
    ({"speed@input": [0.1]}, "the optimizer has no hyperparameter 'speed'"),
    ({LR_IN: [0.1]}, "needs learning_rate"),
    ({LR_IN: [0.1], LR_OUT: [0.1, -0.1]}, "grid axis 'learning_rate@output'.*must be >= 0"),
])
def test_bad_per_group_axes_are_refused(grid, message):
    with pytest.raises(ValueError, match=message):
        lrscape.sweep(NET, "sgd", grid, steps=10)


def test_a_landscape_with_one_group_refuses_per_group_axes():
    with pytest.raises(ValueError, match="Quadratic has one parameter group"):
        lrscape.sweep("quadratic", "sgd", {"learning_rate@input": [0.1]})


def test_the_trainability_score_is_the_papers_convergence_measure():
    """Recomputed from every step's loss with the definition of Sohl-Dickstein (2024)."""
    grid = {LR_IN: lrscape.logspace(1.0, 300.0, 6), LR_OUT: lrscape.logspace(1.0, 300.0, 6)}
    ds = lrscape.sweep(NET, "sgd", grid, steps=100, record_every=1, dtype="float64",
                       trainability=True, progress=False)
    losses = ds.loss_last.values.reshape(36, 100)
    v = np.where(np.isfinite(losses), losses, 1e6)
    v = np.minimum(v / v[:, :1], 1e6)
    converged = v[:, -20:].mean(axis=1) < 1
    expected = np.where(converged, -v.sum(axis=1), (1 / v).sum(axis=1))
    assert 0 < converged.sum() < 36  # both sides of the boundary are present
    np.testing.assert_array_equal(ds.trainable.values.ravel(), converged)
    np.testing.assert_allclose(ds.trainability.values.ravel(), expected, rtol=1e-9)


@pytest.fixture(scope="module")
def network_images():
    """The input-vs-output learning-rate image at 65 x 65: brute force and refined."""
    axes = {LR_IN: lrscape.logspace(0.3, 3e3, 65), LR_OUT: lrscape.logspace(0.3, 3e3, 65)}
    # The same compiled program (chunks of 256) for both: see `refine`'s `block`.
    brute = lrscape.sweep(NET, "sgd", axes, steps=100, dtype="float64", trainability=True,
                          chunk_size=256, progress=False)
    refined = lrscape.refine(NET, "sgd", axes, coarse=9, block=256, steps=100,
                             dtype="float64")
    return brute, refined


def test_refinement_equals_brute_force_where_it_evaluates_and_runs_far_fewer(network_images):
    brute, refined = network_images
    ran = refined.evaluated.values
    for name in ("trainability", "final_loss", "regime", "divergence_step"):
        np.testing.assert_array_equal(refined[name].values[ran],
                                      brute[name].values[ran].astype(float))
    np.testing.assert_array_equal(refined.trainable.values[ran], brute.trainable.values[ran])
    agree = np.mean(refined.trainable.values == brute.trainable.values)
    saving = refined.attrs["brute_force"] / refined.attrs["evaluated"]
    print(f"refined: {refined.attrs['evaluated']} of {refined.attrs['brute_force']} "
          f"trajectories ({saving:.1f}x fewer), whole image agrees on {agree:.2%}")
    assert refined.attrs["evaluated"] == int(ran.sum())
    assert saving >= 2.5
    assert agree >= 0.99
    assert 0.1 < brute.trainable.mean() < 0.9  # the boundary crosses the image


def test_box_counting_gives_one_for_smooth_boundaries_and_two_for_filled_regions():
    y, x = np.mgrid[:512, :512]
    line = fractal.boundary(x > 200)
    slanted = fractal.boundary(y > 0.4 * x + 50)
    circle = fractal.boundary((x - 256) ** 2 + (y - 256) ** 2 < 160**2)
    for mask in (line, slanted, circle):
        assert abs(fractal.box_counting(mask).dimension - 1.0) < 0.05
    assert abs(fractal.box_counting(np.ones((512, 512), bool)).dimension - 2.0) < 0.01
    # A random speckle fills the plane: its boundary is two-dimensional too.
    speckle = np.random.default_rng(0).random((512, 512)) < 0.5
    assert abs(fractal.box_counting(fractal.boundary(speckle)).dimension - 2.0) < 0.05


def test_the_network_boundary_has_a_dimension_strictly_between_one_and_two():
    axes = {LR_IN: lrscape.logspace(3.0, 3e3, 257), LR_OUT: lrscape.logspace(3.0, 3e3, 257)}
    image = lrscape.refine(NET, "sgd", axes, coarse=17, steps=100, dtype="float64")
    fit = fractal.box_counting(fractal.boundary(image.trainable.values))
    print(f"network boundary: D = {fit.dimension:.3f} +- {fit.stderr:.3f}, sizes "
          f"{fit.fit_range}; {image.attrs['evaluated']} of 257^2 trajectories")
    assert 1.05 < fit.dimension < 1.95


def test_the_valley_boundary_is_the_stability_edge_and_one_dimensional():
    """Gradient descent on the 2-D valley: trains iff lr * wall_curvature < 2."""
    axes = {"wall_curvature": lrscape.logspace(10.0, 1000.0, 129),
            "learning_rate": lrscape.logspace(1e-4, 1.0, 129)}
    image = lrscape.refine("narrow-valley", "sgd", axes, coarse=9, steps=300)
    kappa, lr = np.meshgrid(axes["wall_curvature"], axes["learning_rate"], indexing="ij")
    edge = lr * kappa
    clear = np.abs(np.log(edge / 2.0)) > 0.1  # away from the edge by more than a pixel
    np.testing.assert_array_equal(image.trainable.values[clear], (edge < 2.0)[clear])
    fit = fractal.box_counting(fractal.boundary(image.trainable.values), max_size=16)
    assert abs(fit.dimension - 1.0) < 0.1


def test_zoom_stops_where_float64_runs_out_and_reports_it():
    assert ulps_per_pixel(zoom_axis(3.0, 1e-12, 33)) > MIN_ULPS_PER_PIXEL
    assert ulps_per_pixel(zoom_axis(3.0, 1e-15, 33)) < 1
    frames = zoom(NET, "sgd", (LR_IN, LR_OUT), centre=(40.0, 40.0),
                  half_widths=[1.0, 0.1, 1e-15], resolution=33, coarse=5, steps=60)
    assert [f.attrs["float64_exhausted"] for f in frames] == [0, 0, 1]
    assert len(frames[2].data_vars) == 0  # nothing computed, nothing drawn
    assert frames[1].attrs["centre_row"] != 40.0  # moved onto the boundary found in frame 0
    second = frames[1].trainable.values
    assert second.any() and not second.all()  # ... and the boundary is in the next frame


def test_cli_refine_writes_the_image_and_its_figure(tmp_path, capsys):
    import subprocess
    import sys

    out = tmp_path / "valley.zarr"
    command = [sys.executable, "-c", "import sys; from lrscape.cli import main; sys.exit(main())",
               "refine", "--landscape", "narrow-valley", "--optimizer", "sgd",
               "--axis", "wall_curvature=10:1000:33:log", "--lr", "1e-4:1:33:log",
               "--coarse", "5", "--steps", "200", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    image = xr.open_zarr(out)
    assert image.trainable.shape == (33, 33)
    assert image.attrs["evaluated"] < 33 * 33
    assert (tmp_path / "valley.png").exists()
    bad = subprocess.run(command[:-6] + ["--coarse", "6", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "must be (coarse - 1) * 2**L + 1" in bad.stderr
    # read back and redrawn like a sweep's store
    xr.testing.assert_identical(lrscape.open(out), xr.open_zarr(out).load())
    again = tmp_path / "again.png"
    assert cli.main(["plot", str(out), "--x", "learning_rate", "--out", str(again)]) == 0
    assert again.stat().st_size > 10_000
    assert cli.main(["plot", str(out), "--x", "momentum"]) == 2
    assert "--x 'momentum' is not an axis of the image" in capsys.readouterr().err
    assert cli.main(["plot", str(out), "--select", "momentum=0.5"]) == 2
    assert "--select does not apply to a refined image" in capsys.readouterr().err
    # a sweep's store is not replaced by an image, and nothing is computed to find that out
    swept = tmp_path / "sweep.zarr"
    lrscape.sweep("narrow-valley", "sgd", {"learning_rate": [0.01, 0.02]}, steps=20,
                  store=str(swept), progress=False)
    assert cli.main([*command[3:-1], str(swept), "--steps", "100000000"]) == 2
    assert "exists and is not a refined image" in capsys.readouterr().err
    assert lrscape.open(swept).sizes["learning_rate"] == 2
    with pytest.raises(ValueError, match="holds a refined image, not a sweep"):  # and back
        lrscape.sweep("narrow-valley", "sgd", {"learning_rate": [0.01, 0.02]}, steps=20,
                      store=str(out), progress=False)


def test_refining_trainability_does_not_warn_about_chaos_detection():
    import warnings

    axes = {"learning_rate": lrscape.logspace(1e-3, 0.1, 9),
            "wall_curvature": lrscape.logspace(10.0, 100.0, 9)}
    for by, warned in (("trainable", False), ("regime", True)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lrscape.refine("narrow-valley", "sgd", axes, coarse=5, steps=20, by=by)
        assert any("labelled CHAOTIC" in str(w.message) for w in caught) == warned, by


def test_a_refined_image_of_one_class_is_warned_about():
    """A window with no boundary in it (every rate far below 2/kappa) gives a uniform image:
    refine says so, naming the class and the optimizer, instead of returning it silently."""
    axes = {"learning_rate": lrscape.logspace(1e-5, 1e-4, 9),
            "wall_curvature": lrscape.logspace(10.0, 100.0, 9)}
    with pytest.warns(UserWarning, match=r"every pixel .* trainable = True.*'momentum'"):
        image = lrscape.refine("narrow-valley", "momentum", axes, coarse=5, steps=20)
    assert image.trainable.values.all()
