"""Optimizers are optax's, made sweepable; schedules match their closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrscape
from lrscape import optimizers, schedules

QUAD = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 4.0])


@pytest.mark.parametrize("name", optimizers.available())
def test_every_optimizer_reaches_the_minimum_of_a_quadratic(name):
    lr = {"adagrad": 0.5, "lion": 0.003, "rmsprop": 0.003}.get(name, 0.05)
    tx = optimizers.get(name).build(learning_rate=lr)

    @jax.jit
    def run(x):
        def body(_, carry):
            x, state = carry
            updates, state = tx.update(jax.grad(QUAD.loss)(x), state, x)
            return optax.apply_updates(x, updates), state

        return jax.lax.fori_loop(0, 2000, body, (x, tx.init(x)))[0]

    assert float(QUAD.loss(run(jnp.ones(2)))) < 1e-3


def test_registry_matches_optax_exactly():
    x, g = jnp.array([1.0, -2.0]), jnp.array([0.3, 0.5])
    ours = optimizers.get("nesterov", momentum=0.7).build(learning_rate=0.1)
    ref = optax.sgd(0.1, momentum=0.7, nesterov=True)
    s1, s2 = ours.init(x), ref.init(x)
    for _ in range(3):
        u1, s1 = ours.update(g, s1, x)
        u2, s2 = ref.update(g, s2, x)
        np.testing.assert_allclose(u1, u2, rtol=1e-6)


def test_hyperparameters_live_in_the_state_as_arrays():
    tx = optimizers.get("adam").build(learning_rate=1e-3)
    state = tx.init(jnp.zeros(3))
    assert set(state.hyperparams) >= {"learning_rate", "b1", "b2", "eps"}


def test_any_optax_factory_is_sweepable():
    opt = optimizers.get(optax.lion)
    assert opt.hyperparams["learning_rate"] is None
    assert opt.hyperparams["b1"] == 0.9


def test_optimizer_errors():
    with pytest.raises(ValueError, match="unknown optimizer 'sgdd'"):
        optimizers.get("sgdd")
    with pytest.raises(ValueError, match="no hyperparameter or option 'beta'"):
        optimizers.get("momentum", beta=0.5)
    with pytest.raises(ValueError, match="'momentum' must be finite"):
        optimizers.get("momentum", momentum=float("inf"))


@pytest.mark.parametrize(("name", "values", "message"), [
    ("momentum", {"learning_rate": -0.1}, r"'learning_rate' must be >= 0, got -0.1"),
    (optax.sgd, {"learning_rate": -1.0}, r"'learning_rate' must be >= 0, got -1.0"),
    ("adam", {"b2": 1.0}, r"'adam': hyperparameter 'b2' must be in \[0, 1\), got 1.0"),
    ("adamw", {"weight_decay": -1e-4}, r"'weight_decay' must be >= 0"),
    ("rmsprop", {"decay": 1.5}, r"'decay' must be in \[0, 1\), got 1.5"),
    ("lion", {"b1": -0.1}, r"'b1' must be in \[0, 1\], got -0.1"),
])
def test_hyperparameters_outside_their_domain_are_refused(name, values, message):
    with pytest.raises(ValueError, match=message):
        optimizers.get(name, **values)


def test_domain_edges_and_free_momentum_are_accepted():
    optimizers.get("momentum", learning_rate=0.0, momentum=-0.5)  # negative momentum is studied
    optimizers.get("momentum", learning_rate=0.1, momentum=1.2)
    optimizers.get("adam", b1=0.0, b2=0.99999, eps=0.0)
    optimizers.get("lion", b1=1.0, b2=1.0)


T = np.arange(0, 1001, 50)


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("constant", {}, np.ones_like(T, float)),
        ("step-decay", {"every": 300, "factor": 0.5}, 0.5 ** np.floor(T / 300)),
        ("piecewise-constant", {"boundaries": [300, 600], "multipliers": [1, 0.1, 0.01]},
         np.where(T < 300, 1.0, np.where(T < 600, 0.1, 0.01))),
        ("cosine", {"decay_steps": 800, "final": 0.1},
         0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(T / 800, 1)))),
        ("linear-warmup", {"warmup_steps": 200}, np.minimum(T / 200, 1)),
        ("warmup-stable-decay",
         {"warmup_steps": 100, "stable_steps": 500, "decay_steps": 200, "final": 0.0},
         np.minimum(T / 100, 1) * (1 - np.clip((T - 600) / 200, 0, 1))),
        ("triangular", {"period": 400, "minimum": 0.2},
         0.2 + 0.8 * (1 - np.abs(2 * ((T / 400) % 1) - 1))),
        ("exponential-range", {"range_steps": 1000, "initial": 1e-5, "final": 10.0},
         1e-5 * 1e6 ** (T / 1000)),
    ],
)
def test_schedules_match_their_formulas(name, fields, expected):
    s = schedules.get(name, **fields)
    got = np.asarray(jax.vmap(s)(jnp.asarray(T)))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_one_cycle_rises_to_one_then_falls_to_final():
    s = schedules.get("one-cycle", total_steps=1000, peak_fraction=0.25, initial=0.04,
                      final=1e-3)
    assert float(s(0)) == pytest.approx(0.04)
    assert float(s(250)) == pytest.approx(1.0)
    assert float(s(1000)) == pytest.approx(1e-3, rel=1e-3)
    values = np.asarray(jax.vmap(s)(jnp.arange(1001)))
    assert np.all(np.diff(values[:250]) >= 0) and np.all(np.diff(values[250:]) <= 1e-7)


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("piecewise-constant", {"boundaries": [500, 300], "multipliers": [1, 0.1, 0.01]},
         "strictly increasing"),
        ("piecewise-constant", {"boundaries": [500], "multipliers": [1.0]}, "one longer"),
        ("step-decay", {"every": 0}, "every"),
        ("cosine", {"final": -0.1}, "final"),
        ("one-cycle", {"peak_fraction": 1.0}, "peak_fraction"),
        ("exponential-range", {"initial": 0.0}, "initial"),
    ],
)
def test_bad_schedule_fields(name, fields, message):
    with pytest.raises(ValueError, match=message):
        schedules.get(name, **fields)


def test_schedule_events_past_the_run_are_refused():
    s = schedules.get("piecewise-constant", boundaries=[100, 2000], multipliers=[1, 0.1, 0.01])
    with pytest.raises(ValueError, match="boundary 2000 lies past the last step"):
        lrscape.sweep(QUAD, "sgd", {"learning_rate": [0.1]}, steps=1000, schedule=s,
                      progress=False)


def test_a_function_schedule_is_labelled_the_same_in_every_process():
    # The label goes into a store's configuration: no repr with a memory address.
    import functools

    class Halving:
        def __call__(self, t):
            return 0.5 ** (t // 10)

    assert schedules.FunctionSchedule(function=functools.partial(pow, 0.5)).label() == (
        "functools.partial")
    assert schedules.FunctionSchedule(function=Halving()).label().endswith(
        "<locals>.Halving")
    assert schedules.resolve(Halving()).multipliers(21)[[0, 10, 20]].tolist() == [1, 0.5, 0.25]


def test_a_user_schedule_sweeps_its_fields(monkeypatch):
    monkeypatch.setattr(schedules.REGISTRY, "_entries", dict(schedules.REGISTRY._entries))

    @schedules.register("user-inverse-sqrt")
    class InverseSqrt(schedules.Schedule):
        """m(t) = (1 + t / T)^(-1/2)."""

        timescale: float = 100.0

        def __call__(self, step):
            return 1.0 / jnp.sqrt(1.0 + step / self.timescale)

    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [0.1], "timescale": [10.0, 1000.0]},
                       steps=50, record_every=50, schedule=InverseSqrt(), progress=False)
    assert ds.timescale.attrs["sweeps"] == "schedule.timescale"
    # x_{t+1} = (1 - eta m(t)) x_t on f = x^2 / 2 from x_0 = 1
    for i, timescale in enumerate([10.0, 1000.0]):
        t = np.arange(50)
        x = np.prod(1 - 0.1 / np.sqrt(1 + t / timescale))
        assert ds.final_loss.values[0, i] == pytest.approx(0.5 * x**2, rel=1e-4)

    with pytest.raises(ValueError, match="schedule Flat must define __call__"):
        @schedules.register("user-flat")
        class Flat(schedules.Schedule):
            level: float = 1.0
