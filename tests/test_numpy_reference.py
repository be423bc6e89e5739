"""The engine against an independent vectorised NumPy implementation of the same sweep.

``benchmarks/numpy_reference.py`` is the throughput baseline; written separately from the
engine (plain NumPy, the valley's gradient by hand), it also pins the engine's semantics:
both must label every trajectory the same way and record the same window means.
"""

import importlib.util
import pathlib

import numpy as np
import pytest

import lrscape

_PATH = pathlib.Path(__file__).parents[1] / "benchmarks" / "numpy_reference.py"
_spec = importlib.util.spec_from_file_location("numpy_reference", _PATH)
numpy_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(numpy_reference)


def test_regimes_and_records_match_the_numpy_implementation():
    lrs = lrscape.logspace(1e-3, 0.1, 48)
    betas = lrscape.linspace(0.0, 0.99, 16)
    lr, beta = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    seen = set()
    # Constant walls diverge beyond the heavy-ball edge; growing walls exercise the
    # reference's exponential and push the iterate back up the valley instead.
    for wall_growth in (0.0, 0.02):
        valley = lrscape.landscapes.get("narrow-valley", wall_growth=wall_growth)
        ds = lrscape.sweep(valley, "momentum", {"learning_rate": lrs, "momentum": betas},
                           steps=400, record_every=10, progress=False)
        ref = numpy_reference.run_valley_momentum(lr, beta, steps=400, record_every=10,
                                                  wall_growth=wall_growth)
        ours = ds.regime.values.ravel()
        seen |= set(ours.tolist())
        assert np.mean(ours == ref["regime"]) >= 0.995
        for name in ("oscillation", "late_oscillation"):
            np.testing.assert_allclose(ds[name].values.ravel(), ref[name], rtol=1e-3, atol=1e-4)
        np.testing.assert_array_equal(ds.period.values.ravel(), ref["period"])
        np.testing.assert_allclose(ds.loss_mean.values.reshape(-1, 40), ref["loss_mean"],
                                   rtol=1e-3, atol=1e-6)
    assert len(seen) >= 3  # several regimes present, so the comparison means much


def _rugged_against_numpy(dim: int, side: int, steps: int, key: int):
    """lrscape's and the NumPy reference's heavy-ball sweep of the rugged quadratic (64
    cosines of amplitude 0.1 and frequency 5 on a bowl of curvature 1) from one random start,
    over ``side`` log-spaced rates x ``side`` momenta."""
    import jax

    landscape = lrscape.landscapes.get("rugged-quadratic", dim=dim, amplitude=0.1,
                                       frequency=5.0, curvature=1.0)
    x0 = np.asarray(landscape.init(jax.random.key(key)))
    lrs, betas = lrscape.logspace(1e-3, 3.0, side), lrscape.linspace(0.0, 0.99, side)
    ds = lrscape.sweep(landscape, "momentum", {"learning_rate": lrs, "momentum": betas},
                       steps=steps, x0=x0, progress=False)
    lr, beta = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    loss_and_grad = numpy_reference.rugged_loss_and_grad(
        1.0, 0.1, 5.0, landscape.directions, landscape.phases)
    ref = numpy_reference.run_momentum(loss_and_grad, np.tile(x0, (lr.size, 1)), lr, beta,
                                       steps=steps, record_every=10)
    return ds, ref


def test_the_rugged_quadratic_matches_the_numpy_implementation():
    """The 1,000-D benchmark's workload, smaller: 100 dimensions, 256 trajectories."""
    ds, ref = _rugged_against_numpy(dim=100, side=16, steps=300, key=7)
    ours = ds.regime.values.ravel()
    assert len(np.unique(ours)) >= 3
    assert np.mean(ours == ref["regime"]) >= 0.98
    mean = ds.loss_mean.values.reshape(-1, 30)
    # The first window agrees to float32 rounding; later, on chaotic and marginal
    # trajectories, summation order (BLAS against XLA) grows into visible differences.
    np.testing.assert_allclose(mean[:, 0], ref["loss_mean"][:, 0], rtol=1e-5)
    close = np.all(np.isclose(mean, ref["loss_mean"], rtol=1e-3, equal_nan=True), axis=1)
    assert np.mean(close) >= 0.9


@pytest.mark.slow
def test_the_valley_benchmarks_grid_is_labelled_as_numpy_labels_it():
    """``benchmarks/throughput.py``'s and ``versus_plain_jax.py``'s whole valley workload
    (65,536 trajectories x 1,000 steps): any change made for speed must leave every label as
    the independent implementation gives it (the fast equivalent is the first test here)."""
    lrs, betas = lrscape.logspace(1e-3, 0.1, 256), lrscape.linspace(0.0, 0.99, 256)
    ds = lrscape.sweep("narrow-valley", "momentum", {"learning_rate": lrs, "momentum": betas},
                       steps=1000, record_every=10, progress=False)
    lr, beta = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    ref = numpy_reference.run_valley_momentum(lr, beta, steps=1000, record_every=10)
    ours = ds.regime.values.ravel()
    assert len(np.unique(ours)) >= 4
    np.testing.assert_array_equal(ours, ref["regime"])


@pytest.mark.slow
def test_the_rugged_benchmarks_grid_is_labelled_as_numpy_labels_it():
    """``benchmarks/throughput_rugged.py``'s whole workload (the fast equivalent is the
    100-dimensional test above): 99.7% agreement measured, the rest chaotic or marginal runs
    where float32 summation order (BLAS against XLA) grows into different paths."""
    ds, ref = _rugged_against_numpy(dim=1000, side=64, steps=500, key=0)
    assert np.mean(ds.regime.values.ravel() == ref["regime"]) >= 0.995
