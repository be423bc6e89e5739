"""The sweep engine: one compile per shape, sharding, chunking, records, dtypes, Dataset."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import xarray as xr
from jax._src import monitoring
from jax._src.dispatch import BACKEND_COMPILE_EVENT

import lrscape
from lrscape import Regime
from lrscape import plan as plan_mod

VALLEY = lrscape.landscapes.get("narrow-valley")


class CompileCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, event, duration, **kwargs):
        if event == BACKEND_COMPILE_EVENT:
            self.count += 1

    def __enter__(self):
        monitoring.register_event_duration_secs_listener(self)
        return self

    def __exit__(self, *exc):
        monitoring.unregister_event_duration_listener(self)


def test_two_learning_rate_grids_of_the_same_shape_compile_once(no_compiled_programs):
    kwargs = dict(steps=100, progress=False, chunk_size=64)
    # the first sweep of a process also compiles JAX's own small helpers (key derivation,
    # transfers): a sweep of another length compiles them, not the program counted below
    lrscape.sweep(VALLEY, "momentum", {"learning_rate": [0.01]}, steps=50, progress=False)
    with CompileCounter() as first:
        a = lrscape.sweep(VALLEY, "momentum", {"learning_rate": lrscape.logspace(1e-3, 0.1, 100)},
                          **kwargs)  # two chunks of 64: one program
    with CompileCounter() as second:
        b = lrscape.sweep(VALLEY, "momentum", {"learning_rate": lrscape.linspace(0.01, 0.05, 100)},
                          **kwargs)
        fixed = lrscape.optimizers.get("momentum", momentum=0.5)  # a new fixed value: traced
        lrscape.sweep(VALLEY.replace(wall_curvature=30.0), fixed,
                      {"learning_rate": lrscape.linspace(0.01, 0.05, 100)}, **kwargs)
    assert first.count == 1
    assert second.count == 0
    assert not np.array_equal(a.final_loss.values, b.final_loss.values)


def test_sharded_run_equals_the_single_device_run():
    assert jax.device_count() >= 4, "conftest asks XLA for four CPU devices"
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 37), "momentum": [0.0, 0.5, 0.9]}
    many = lrscape.sweep(VALLEY, "momentum", grid, steps=200, progress=False)
    one = lrscape.sweep(VALLEY, "momentum", grid, steps=200, progress=False,
                        devices=jax.devices()[:1])
    xr.testing.assert_identical(many, one)


@pytest.mark.parametrize("chunk_size", [4, 8, 24])
def test_small_chunks_equal_one_chunk(chunk_size):
    # On four devices: one, two and six trajectories each (XLA compiles a batch of one or two
    # differently, so those are padded), every step recorded.
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 50)}
    whole = lrscape.sweep(VALLEY, "momentum", grid, steps=100, record_every=1, progress=False)
    pieces = lrscape.sweep(VALLEY, "momentum", grid, steps=100, record_every=1, progress=False,
                           chunk_size=chunk_size)
    xr.testing.assert_identical(whole, pieces)


def plain_loop(landscape, tx, x, steps):
    """The reference: a Python loop over steps, recording every loss."""
    state, losses = tx.init(x), []
    for _ in range(steps):
        loss, grads = jax.value_and_grad(landscape.loss)(x)
        losses.append(float(loss))
        updates, state = tx.update(grads, state, x)
        x = optax.apply_updates(x, updates)
    return np.array(losses), float(landscape.loss(x))


def test_records_with_k1_equal_a_plain_python_loop_and_window_means_average_them():
    valley = lrscape.landscapes.get("narrow-valley", dim=3)
    lr, beta, steps = 0.015, 0.3, 60
    ref, final = plain_loop(valley, optax.sgd(lr, momentum=beta), valley.init(None), steps)
    opt = lrscape.optimizers.get("momentum", momentum=beta)
    k1 = lrscape.sweep(valley, opt, {"learning_rate": [lr]}, steps=steps, record_every=1,
                       progress=False)
    np.testing.assert_allclose(k1.loss_last.values[0], ref, rtol=1e-5)
    np.testing.assert_allclose(k1.loss_mean.values[0], ref, rtol=1e-5)
    assert k1.final_loss.item() == pytest.approx(final, rel=1e-5)
    k6 = lrscape.sweep(valley, opt, {"learning_rate": [lr]}, steps=steps, record_every=6,
                       progress=False)
    np.testing.assert_allclose(k6.loss_mean.values[0], ref.reshape(-1, 6).mean(1), rtol=1e-5)
    np.testing.assert_allclose(k6.loss_last.values[0], ref[5::6], rtol=1e-5)
    np.testing.assert_array_equal(k6.step.values, np.arange(6, 61, 6))


def test_schedule_multiplies_the_rate_like_optax_schedules():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 3.0])
    sched = lrscape.schedules.get("cosine", decay_steps=40, final=0.1)
    ref, _ = plain_loop(q, optax.sgd(lambda t: 0.3 * sched(t), momentum=0.5), q.init(None), 40)
    ds = lrscape.sweep(q, lrscape.optimizers.get("momentum", momentum=0.5),
                       {"learning_rate": [0.3]}, steps=40, record_every=1, schedule=sched,
                       progress=False)
    np.testing.assert_allclose(ds.loss_last.values[0], ref, rtol=1e-5)


def test_any_jax_function_is_a_schedule_and_runs_like_the_registered_one():
    # optax's cosine decay with alpha = 0.1 is lrscape's cosine with final = 0.1.
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 3.0])
    kwargs = dict(steps=40, record_every=1, progress=False)
    opt = lrscape.optimizers.get("momentum", momentum=0.5)
    registered = lrscape.sweep(q, opt, {"learning_rate": [0.3]}, **kwargs,
                               schedule=lrscape.schedules.get("cosine", decay_steps=40, final=0.1))
    function = lrscape.sweep(q, opt, {"learning_rate": [0.3]}, **kwargs,
                             schedule=optax.cosine_decay_schedule(1.0, 40, alpha=0.1))
    np.testing.assert_allclose(function.loss_last.values, registered.loss_last.values, rtol=1e-5)
    assert function.attrs["schedule"] == "function"
    config = json.loads(function.attrs["schedule_config"])
    assert config["function"].startswith("optax.")
    assert len(config["multipliers_sha256"]) == 64
    halving = lrscape.sweep(q, "sgd", {"learning_rate": [0.5]}, steps=20, record_every=1,
                            progress=False, schedule=lambda t: 0.5 ** (t // 10))
    ref, _ = plain_loop(q, optax.sgd(lambda t: 0.5 * 0.5 ** (t // 10)), q.init(None), 20)
    np.testing.assert_allclose(halving.loss_last.values[0], ref, rtol=1e-5)


def test_schedule_fields_are_grid_axes():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    sched = lrscape.schedules.get("step-decay", every=50, factor=0.5)
    ds = lrscape.sweep(q, "sgd", {"factor": [0.1, 0.5, 1.0], "learning_rate": [0.01]},
                       steps=100, schedule=sched, progress=False)
    final = ds.final_loss.values[:, 0]
    assert final[0] > final[1] > final[2]  # less decay, more progress
    assert ds.factor.attrs["sweeps"] == "schedule.factor"


def test_float64_when_asked():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [0.5]}, steps=100, dtype=jnp.float64,
                       progress=False)
    assert ds.final_loss.dtype == np.float64
    assert ds.final_loss.item() == pytest.approx(0.5 * 0.5 ** 200, rel=1e-9)
    assert ds.attrs["dtype"] == "float64"
    assert not jax.config.jax_enable_x64  # switched on for the call only


def test_seed_axis_draws_different_starts():
    rugged = lrscape.landscapes.get("rugged-quadratic", dim=4)
    ds = lrscape.sweep(rugged, "sgd", {"seed": [0, 1, 2], "learning_rate": [0.01]}, steps=10,
                       progress=False)
    assert len(set(ds.initial_loss.values[:, 0].tolist())) == 3
    again = lrscape.sweep(rugged, "sgd", {"seed": [0, 1, 2], "learning_rate": [0.01]},
                          steps=10, progress=False)
    xr.testing.assert_identical(ds, again)


def test_explicit_x0_and_pytree_parameters():
    uv = lrscape.landscapes.get("uv-model", width=16)
    x0 = uv.init(jax.random.key(3))
    ds = lrscape.sweep(uv, "sgd", {"learning_rate": [0.1, 0.5]}, steps=50, x0=x0,
                       progress=False)
    assert ds.initial_loss.values[0] == pytest.approx(float(uv.loss(x0)), rel=1e-6)
    assert np.all(ds.converged.values)


def test_dataset_contract():
    ds = lrscape.sweep(VALLEY, "momentum",
                       {"learning_rate": lrscape.logspace(1e-3, 0.1, 8), "momentum": [0.0, 0.9]},
                       steps=100, progress=False)
    assert ds.regime.dims == ("learning_rate", "momentum")
    assert ds.loss_mean.dims == ("learning_rate", "momentum", "step")
    for name in ("regime", "period", "converged", "final_loss", "peak_loss_ratio",
                 "divergence_step", "loss_last", "loss_mean"):
        assert name in ds
    assert list(ds.regime.attrs["flag_values"]) == [r.value for r in Regime]
    assert ds.regime.attrs["flag_meanings"].split() == [r.name.lower() for r in Regime]
    assert ds.learning_rate.attrs["spacing"] == "log"
    assert ds.momentum.attrs["spacing"] == "linear"
    assert ds.attrs["landscape"] == "narrow-valley"


def test_diverged_trajectories_are_frozen_and_spread_no_nan():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [3.0]}, steps=1000, progress=False)
    assert ds.regime.item() == Regime.DIVERGED
    step = ds.divergence_step.item()
    assert 0 < step < 100  # |1 - 3|^t passes 1e6 in the loss fast
    assert np.isfinite(ds.peak_loss_ratio.item()) and ds.peak_loss_ratio.item() > 1e5
    assert np.isfinite(ds.oscillation.item())
    means = ds.loss_mean.values[0]
    assert np.all(np.isfinite(means[: step // 10])) and np.all(np.isnan(means[step // 10 + 1:]))


def test_reclassify_relabels_without_rerunning():
    dw = lrscape.landscapes.get("double-well")
    ds = lrscape.sweep(dw, "sgd", {"learning_rate": [0.5, 0.95, 1.1, 1.4]}, steps=500,
                       progress=False)
    assert list(ds.regime.values) == [Regime.MONOTONE, Regime.OSCILLATORY, Regime.PERIODIC,
                                      Regime.CHAOTIC]
    # 0.95: a long zig-zag into the minimum after two large steps towards it
    assert 0.55 < ds.oscillation.values[1] < 0.7
    assert 0.9 < ds.late_oscillation.values[3] < 0.97  # chaos: mostly reversing to the end
    xr.testing.assert_identical(lrscape.reclassify(ds), ds)
    # 0.95 zig-zags by its approach (approach_reversal), which oscillation_threshold does not
    # decide; a stricter chaos threshold leaves 1.4 to be labelled by its approach
    strict = lrscape.reclassify(ds, oscillation_threshold=0.8)
    assert list(strict.regime.values) == [Regime.MONOTONE, Regime.OSCILLATORY, Regime.PERIODIC,
                                          Regime.CHAOTIC]
    stricter = lrscape.reclassify(ds, chaos_reversal=0.98)
    assert list(stricter.regime.values)[3] != Regime.CHAOTIC
    with pytest.raises(ValueError, match="max_period"):
        lrscape.reclassify(ds, max_period=4)
    with pytest.raises(ValueError, match="no `late_oscillation`.*re-run the sweep"):
        lrscape.reclassify(ds.drop_vars("late_oscillation"))


def test_custom_optax_factory():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 2.0])
    ds = lrscape.sweep(q, optax.lion, {"learning_rate": [1e-3, 1e-2], "b1": [0.5, 0.9]},
                       steps=200, progress=False)
    assert ds.regime.shape == (2, 2)
    assert np.all(ds.final_loss.values < ds.initial_loss.values)


def test_a_grid_larger_than_one_cpu_chunk_compiles_once(no_compiled_programs):
    n_dev = jax.device_count()
    size = 2 * n_dev * plan_mod.CPU_FIRST_CHUNK_PER_DEVICE + 3  # three chunks, the last short
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, size)}
    # JAX's own small helpers compile on a process's first sweep: a sweep of another length
    # compiles them, not the program counted below
    lrscape.sweep(VALLEY, "sgd", {"learning_rate": [0.01]}, steps=20, progress=False)
    with CompileCounter() as compiles:
        ds = lrscape.sweep(VALLEY, "sgd", grid, steps=10, progress=False)
    assert compiles.count == 1
    assert ds.sizes["learning_rate"] == size and np.isfinite(ds.initial_loss.values).all()


def test_too_few_record_windows_to_tell_chaos_are_warned_of():
    import warnings

    well = lrscape.landscapes.get("double-well", start=0.5)  # chaotic at eta = 1.4
    grid = {"learning_rate": [1.4]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        enough = lrscape.sweep(well, "sgd", grid, steps=2000, record_every=500, progress=False)
        noisy = lrscape.sweep(well, "sgd", grid, steps=20, gradient_noise=0.1, progress=False)
    assert not [w for w in caught if "CHAOTIC" in str(w.message)]  # 4 windows; noise: no label
    assert enough.regime.item() == lrscape.Regime.CHAOTIC
    assert noisy.attrs["noisy"] == 1
    with pytest.warns(UserWarning, match=r"^2 record window\(s\) \(steps = 2000, record_every = "
                                         r"1000\): with fewer than 4, no trajectory can be "
                                         r"labelled CHAOTIC \(a chaotic one reads as OSCILL"):
        few = lrscape.sweep(well, "sgd", grid, steps=2000, record_every=1000, progress=False)
    assert few.regime.item() == lrscape.Regime.OSCILLATORY  # as the warning says
