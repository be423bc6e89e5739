"""The CPU layout rewrites change how XLA loops, never a value."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrscape
from lrscape import backend, layout, plan


def test_one_loop_returns_every_value_bit_for_bit():
    special = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1e-38, -3.5, 7.25], np.float32)
    new = {
        "x": jnp.asarray(special),
        "flag": jnp.asarray([True, False, True, True, False, False, True, False]),
        "count": jnp.asarray(np.arange(-4, 4), jnp.int32),
        "vector": jnp.ones((8, 3)),  # not a scalar per trajectory: left alone
    }
    old = dict(new, x=jnp.zeros(8), flag=jnp.zeros(8, bool), count=jnp.zeros(8, jnp.int32))
    out = jax.jit(jax.vmap(layout.write_in_one_loop))(new, old)
    for name in new:
        assert out[name].dtype == new[name].dtype
        np.testing.assert_array_equal(np.asarray(out[name]).view(np.uint8),
                                      np.asarray(new[name]).view(np.uint8))


def test_one_loop_is_one_reduction_and_skips_what_did_not_change():
    def step(carry):
        a, b, c, kept = carry
        return layout.write_in_one_loop((a + 1.0, b * 2.0, c | (a > 0), kept), carry)

    carry = (jnp.zeros(()), jnp.ones(()), jnp.zeros((), bool), jnp.ones(()))
    eqns = jax.make_jaxpr(step)(carry).jaxpr.eqns
    reductions = [e for e in eqns if e.primitive.name == "reduce"]
    assert len(reductions) == 1 and len(reductions[0].outvars) == 3  # ``kept`` passes through


SMALL = [("narrow-valley", {"dim": d}) for d in (2, 3, 5)] + [
    ("twisted-valley", {}), ("rosenbrock", {}), ("double-well", {"dim": 3}),
    ("quadratic", {"eigenvalues": (1.0, 4.0, 9.0)}), ("rastrigin", {"dim": 2})]


@pytest.mark.parametrize(("name", "fields"), SMALL)
def test_the_column_gradient_equals_the_gradient(name, fields):
    landscape = lrscape.landscapes.get(name, **fields)
    x = landscape.init(jax.random.key(0)) * 0.7 + 0.3
    value, grads = jax.jit(layout.value_and_grad_columns, static_argnums=0)(
        landscape.loss, tuple(x))
    ref_value, ref_grad = jax.jit(jax.value_and_grad(landscape.loss))(x)
    assert float(value) == float(ref_value)
    np.testing.assert_allclose(np.stack(grads), ref_grad, rtol=1e-6, atol=1e-7)


def test_the_column_gradient_builds_no_padded_cotangent():
    valley = lrscape.landscapes.get("narrow-valley", dim=4)
    columns = tuple(valley.init(None))
    names = {e.primitive.name
             for e in jax.make_jaxpr(lambda c: layout.value_and_grad_columns(valley.loss, c))(
                 columns).jaxpr.eqns}
    reverse = {e.primitive.name
               for e in jax.make_jaxpr(jax.value_and_grad(valley.loss))(
                   jnp.stack(columns)).jaxpr.eqns}
    assert "pad" in reverse and "pad" not in names


def test_columns_only_where_every_coordinate_is_treated_alike():
    x = jnp.zeros(3)
    ok = dict(elementwise=True, stochastic=False, per_group=False)
    assert layout.use_columns(x, **ok)
    assert not layout.use_columns(x, **dict(ok, elementwise=False))
    assert not layout.use_columns(x, **dict(ok, stochastic=True))
    assert not layout.use_columns(x, **dict(ok, per_group=True))
    assert not layout.use_columns(jnp.zeros(layout.MAX_COLUMNS + 1), **ok)
    assert not layout.use_columns((x, x), **ok)
    assert lrscape.optimizers.get("adam").elementwise
    assert not lrscape.optimizers.get(optax.lars).elementwise  # a norm per parameter array
    assert all(lrscape.optimizers.get(name).elementwise
               for name in lrscape.optimizers.available())

    def clipped_sgd(learning_rate):  # each array's RMS clipped: not coordinate by coordinate
        return optax.chain(optax.clip_by_block_rms(1.0), optax.sgd(learning_rate))

    assert not lrscape.optimizers.get(clipped_sgd).elementwise
    assert lrscape.optimizers.get(lambda learning_rate: optax.sgd(learning_rate)).elementwise


def _count_calls(monkeypatch, functions: dict[str, str]) -> dict[str, int]:
    """Count the traced calls of ``lrscape.layout`` functions: label -> function name."""
    traced = dict.fromkeys(functions, 0)

    def spy(label, original):
        def wrapper(*args):
            traced[label] += 1
            return original(*args)
        return wrapper

    for label, name in functions.items():
        monkeypatch.setattr(layout, name, spy(label, getattr(layout, name)))
    return traced


def test_a_sweep_in_columns_agrees_with_one_in_rows(monkeypatch, no_compiled_programs):
    """The registered heavy ball runs in columns, and so does the same optax factory passed
    directly (elementwise is checked, not declared: the same program, the same numbers); with
    the columns rewrite refused, the sweep runs as one (batch, d) array: same regimes, same
    numbers up to the order of floating-point operations in the gradient."""
    traced = _count_calls(monkeypatch, {"columns": "value_and_grad_columns",
                                        "one_loop": "write_in_one_loop"})
    valley = lrscape.landscapes.get("narrow-valley", dim=3)
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.015, 12), "momentum": [0.0, 0.5, 0.9]}
    columns = lrscape.sweep(valley, "momentum", grid, steps=300, progress=False)
    assert traced["columns"] > 0 and traced["one_loop"] > 0  # a CPU sweep uses both

    def heavy_ball(learning_rate, momentum):
        return optax.sgd(learning_rate, momentum=momentum)

    traced["columns"] = 0
    factory = lrscape.sweep(valley, heavy_ball, grid, steps=300, progress=False)
    assert traced["columns"] > 0
    np.testing.assert_array_equal(columns.loss_mean.values, factory.loss_mean.values)

    monkeypatch.setattr(layout, "use_columns", lambda *args, **kwargs: False)
    traced["columns"] = 0
    rows = lrscape.sweep(valley, "momentum", grid, steps=300, progress=False)
    assert traced["columns"] == 0
    np.testing.assert_array_equal(columns.regime.values, rows.regime.values)
    np.testing.assert_allclose(columns.loss_mean.values, rows.loss_mean.values, rtol=1e-5)


def test_an_optimizer_with_a_norm_per_array_never_runs_in_columns(monkeypatch,
                                                                   no_compiled_programs):
    """LARS scales each parameter array by its own norm: on columns every coordinate would be
    an array of its own. Its probe fails, so a sweep of it carries the vector whole."""
    traced = _count_calls(monkeypatch, {"columns": "value_and_grad_columns"})
    valley = lrscape.landscapes.get("narrow-valley", dim=3)
    lrscape.sweep(valley, optax.lars, {"learning_rate": [0.01, 0.1]}, steps=20,
                  record_every=5, progress=False)
    assert traced["columns"] == 0


def test_cpu_chunks_are_kept_off_multiples_of_four_kilobytes():
    cpu = backend.CPU
    assert cpu.per_device(1000, 4) == 1000
    assert cpu.per_device(1024, 4) == 1024 + backend.CPU_SKEW_BYTES // 4
    assert cpu.per_device(512, 8) == 512 + backend.CPU_SKEW_BYTES // 8
    assert backend.IDENTITY.per_device(1024, 4) == 1024
    pad = lambda n: cpu.per_device(n, 4)  # noqa: E731
    per_trajectory = 100.0
    for budget in (100 * 1024, 100 * 1030, 100 * 4096):
        chunk = plan.chunk_for_budget(per_trajectory, 2, budget * 2, pad=pad)
        assert pad(chunk // 2) * per_trajectory <= budget


def test_the_layout_other_devices_get_gives_the_same_sweep(monkeypatch, no_compiled_programs):
    """The program a GPU gets (parameters as rows, no single loop, no 4 kB skew), run here on
    CPU, agrees with the CPU layout: the layout changes the loops, not the answers."""
    traced = _count_calls(monkeypatch, {"one_loop": "write_in_one_loop"})
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.05, 24), "momentum": [0.0, 0.5, 0.9]}
    kwargs = dict(steps=300, progress=False, record_every=10)
    valley = lrscape.landscapes.get("narrow-valley")
    cpu = lrscape.sweep(valley, "momentum", grid, **kwargs)
    assert traced["one_loop"] > 0
    monkeypatch.setattr(backend, "for_devices", lambda devices: backend.IDENTITY)
    traced["one_loop"] = 0
    other = lrscape.sweep(valley, "momentum", grid, **kwargs)
    assert traced["one_loop"] == 0
    np.testing.assert_array_equal(cpu.regime.values, other.regime.values)
    np.testing.assert_array_equal(cpu.divergence_step.values, other.divergence_step.values)
    # The gradient's additions may round differently; trajectories bouncing at the stability
    # edge amplify that over 300 steps, to about 2e-5 here.
    for name in ("final_loss", "loss_mean", "loss_last"):
        np.testing.assert_allclose(cpu[name].values, other[name].values, rtol=1e-4)
