"""Float64 end to end (issue 23): with ``dtype="float64"`` every constant, start and grid
value reaches the program unrounded, so sweeps match closed forms to float64's precision;
float32 sweeps stay float32."""

import jax
import numpy as np
import pytest

import lrscape

#: Relative agreement with a closed form computed in float64: float32 rounding anywhere
#: (an eigenvalue, the start, a learning rate) would show at 1e-8 or more.
RTOL = 1e-12


def _sweep(landscape, grid, **options):
    options.setdefault("steps", 60)
    return lrscape.sweep(landscape, "sgd", grid, dtype="float64", progress=False, **options)


def _gd_quadratic_losses(h: np.ndarray, y0: np.ndarray, eta: np.ndarray, t: np.ndarray):
    r"""Gradient descent on :math:`\tfrac12 \sum_i h_i y_i^2` from ``y0``: the loss after
    ``t`` updates, :math:`\tfrac12 \sum_i h_i (1 - \eta h_i)^{2t} y_{0,i}^2`, per rate."""
    factor = (1.0 - eta[:, None, None] * h) ** (2 * t[:, None])  # (rates, steps, dim)
    return 0.5 * np.sum(h * factor * y0**2, axis=-1)


def test_gradient_descent_on_a_quadratic_matches_its_closed_form():
    h, start = np.array([0.1, 0.7, 1.3, 4.0]), 0.3
    etas = np.array([0.01, 0.1, 0.3, 0.45])
    ds = _sweep(lrscape.landscapes.get("quadratic", eigenvalues=h.tolist(), start=start),
                {"learning_rate": etas}, record_every=1)
    assert ds.final_loss.dtype == np.float64
    expected = _gd_quadratic_losses(h, np.full(4, start), etas, np.arange(61))
    np.testing.assert_allclose(ds.loss_last.values, expected[:, :60], rtol=RTOL)
    np.testing.assert_allclose(ds.final_loss.values, expected[:, 60], rtol=RTOL)


def test_gradient_descent_on_a_rotated_quadratic_matches_its_closed_form():
    h, start = np.array([0.5, 2.0, 4.0]), 0.3
    q = lrscape.landscapes.get("quadratic", eigenvalues=h.tolist(), start=start,
                               rotation_seed=3)
    assert q.basis.dtype == np.float64  # kept at full precision; the sweep casts it
    etas = np.array([0.05, 0.2, 0.45])
    ds = _sweep(q, {"learning_rate": etas}, curvature_every=60)
    y0 = np.full(3, start) @ q.basis
    expected = _gd_quadratic_losses(h, y0, etas, np.array([0, 60]))
    np.testing.assert_allclose(ds.initial_loss.values, expected[:, 0], rtol=RTOL)
    np.testing.assert_allclose(ds.final_loss.values, expected[:, 1], rtol=RTOL)
    np.testing.assert_allclose(ds.sharpness.values, 4.0, rtol=1e-10)  # not 3.99999987


@pytest.mark.parametrize("start", [0.3, 0.7])
def test_a_double_well_start_is_exact(start):
    ds = _sweep(lrscape.landscapes.get("double-well", dim=2, start=start),
                {"learning_rate": [0.1]}, steps=10)
    assert ds.initial_loss.item() == pytest.approx(2 * 0.25 * (start**2 - 1) ** 2, rel=1e-15)


def test_a_swept_start_reaches_the_program_in_float64():
    starts = np.array([0.1, 0.3, 1.7])
    ds = _sweep(lrscape.landscapes.get("double-well"),
                {"learning_rate": [0.1], "start": starts}, steps=10)
    np.testing.assert_allclose(ds.initial_loss.values[0], 0.25 * (starts**2 - 1) ** 2,
                               rtol=1e-15)


def test_rosenbrocks_initial_loss_is_exactly_24_point_2():
    ds = _sweep(lrscape.landscapes.get("rosenbrock"), {"learning_rate": [1e-4]}, steps=10)
    assert ds.initial_loss.item() == pytest.approx(24.2, rel=RTOL)


def _mlp_loss(mlp, params) -> float:
    """The standard-parameterisation MLP's loss with one tanh layer, in NumPy float64."""
    w, b, a = (np.asarray(params[k], np.float64) for k in ("W1", "b1", "a"))
    outputs = np.tanh(mlp.inputs @ w + b) @ a
    targets = mlp.parts[0] + mlp.label_noise * mlp.parts[1]
    return 0.5 * np.mean((outputs - targets) ** 2)


def test_the_mlps_data_and_start_are_float64():
    mlp = lrscape.landscapes.get("mlp", width=8, n_data=32)
    assert mlp.inputs.dtype == np.float64 and mlp.parts.dtype == np.float64
    ds = _sweep(mlp, {"learning_rate": [0.1]}, steps=10)
    with jax.enable_x64(True):  # the start as the float64 sweep draws it
        params = mlp.init(jax.random.key(0))
    assert params["W1"].dtype == np.float64
    assert ds.initial_loss.item() == pytest.approx(_mlp_loss(mlp, params), rel=RTOL)


def test_a_random_start_is_drawn_in_float64():
    uv = lrscape.landscapes.get("uv-model", width=6, target=0.5)
    ds = _sweep(uv, {"learning_rate": [0.1]}, steps=10)
    with jax.enable_x64(True):
        u, v = (np.asarray(p) for p in uv.init(jax.random.key(0)))
    assert u.dtype == np.float64
    expected = 0.5 * (v @ u / np.sqrt(6) - 0.5) ** 2
    assert ds.initial_loss.item() == pytest.approx(expected, rel=RTOL)


def test_a_datasets_examples_are_drawn_in_float64():
    """One minibatch of the whole training set: the initial loss is the full loss."""
    task = lrscape.landscapes.get("linear-regression", dim=3, n_train=64, n_val=16,
                                  batch_size=64, start=0.3)
    ds = _sweep(task, {"learning_rate": [0.01]}, steps=2, record_every=1)
    with jax.enable_x64(True):
        data = task.dataset
        assert data.x_train.dtype == np.float64
        x, y = np.asarray(data.x_train), np.asarray(data.y_train)
    expected = 0.5 * np.mean((x @ np.full(3, 0.3) - y) ** 2)
    assert ds.initial_loss.item() == pytest.approx(expected, rel=RTOL)


@pytest.mark.parametrize("landscape", [
    lrscape.landscapes.get("quadratic", eigenvalues=[0.1, 4.0], rotation_seed=1, start=0.3),
    lrscape.landscapes.get("mlp", width=4, n_data=16),
    lrscape.landscapes.get("uv-model", width=4),
    lrscape.landscapes.get("linear-regression", n_train=32, n_val=8, batch_size=8),
], ids=lambda landscape: landscape.name)
def test_float32_sweeps_stay_float32(landscape):
    ds = lrscape.sweep(landscape, "sgd", {"learning_rate": [0.01]}, steps=10, progress=False)
    assert ds.attrs["dtype"] == "float32"
    for name in ("initial_loss", "final_loss", "loss_last", "loss_mean"):
        assert ds[name].dtype == np.float32, name
    assert not jax.config.jax_enable_x64
