"""The option objects a sweep is built from: each bad value refused by name before anything
compiles, the output schema matching what the program returns, and the best-loss observation
checked against the losses of a plain loop."""

import jax
import numpy as np
import pytest

import lrscape
from lrscape import Experiment, Observe, observe, simulate
from lrscape.chunks import ChunkJob

VALLEY = lrscape.landscapes.get("narrow-valley")
GRID = {"learning_rate": [0.001, 0.01]}


@pytest.mark.parametrize(("fields", "message"), [
    ({"record_every": 0}, "`record_every` must be an integer >= 1, got 0"),
    ({"record_every": 2.5}, "`record_every` must be an integer >= 1, got 2.5"),
    ({"curvature_every": True}, "`curvature_every` must be an integer >= 1 or None, got True"),
    ({"curvature_every": 0}, "`curvature_every` must be an integer >= 1 or None, got 0"),
    ({"curvature_every": 10, "curvature_iters": 0}, "`curvature_iters` must be an integer"),
    ({"curvature_every": 10, "curvature_k": -1}, "`curvature_k` must be an integer >= 1"),
    ({"curvature_every": 10, "curvature_k": 30}, "`curvature_k` = 30 must be at most "
                                                 "`curvature_iters` = 20"),
    ({"curvature_iters": 5}, "`curvature_iters` = 5 acts only with `curvature_every`"),
    ({"curvature_k": 2, "curvature_iters": 5}, "`curvature_k` = 2 and `curvature_iters` = 5 act "
                                               "only with"),
    ({"lyapunov": 1}, "`lyapunov` must be True or False, got 1"),
    ({"keep_tail": "yes"}, "`keep_tail` must be True or False, got 'yes'"),
    ({"trainability": None}, "`trainability` must be True or False, got None"),
    ({"best": 0.0}, "`best` must be True or False, got 0.0"),
])
def test_bad_observations_are_refused_by_name(fields, message):
    with pytest.raises(ValueError, match=message):
        Observe(**fields)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"steps": 100, "observe": Observe(record_every=30)},
     "`record_every` = 30 does not divide `steps` = 100"),
    ({"steps": 100, "observe": Observe(curvature_every=15)},
     "`curvature_every` = 15 must be a multiple of `record_every` = 10"),
    ({"observe": {"record_every": 5}}, "`observe` must be an lrscape.Observe"),
    ({"gradient_noise": -1.0}, "`gradient_noise` must be a finite number >= 0, got -1.0"),
    ({"gradient_noise": float("nan")}, "`gradient_noise` must be a finite number >= 0"),
    ({"seed": 2**32}, r"`seed` must be an integer in \[0, 2\*\*32\)"),
    ({"steps": True}, "`steps` must be an integer >= 1, got True"),
    ({"dtype": "float16"}, "`dtype` must be float32 or float64"),
    ({"points": {"learning_rate": [0.1]}}, "give `grid` or `points`, not both"),
])
def test_bad_experiments_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Experiment.create(VALLEY, "sgd", GRID, **kwargs)


def test_sweep_takes_an_observe_or_its_keywords_not_both():
    with pytest.raises(ValueError, match=r"give `observe` or the keywords \['lyapunov'\]"):
        lrscape.sweep(VALLEY, "sgd", GRID, lyapunov=True, observe=Observe(best=True))
    with pytest.raises(ValueError, match="`records` must be True or False, got 'no'"):
        lrscape.sweep(VALLEY, "sgd", GRID, records="no")
    with pytest.raises(ValueError, match="`store` needs a `grid`"):
        lrscape.sweep(VALLEY, "sgd", points=GRID, store="x.zarr")


def test_an_experiment_holds_what_it_was_given_checked_once():
    experiment = Experiment.create("narrow-valley", "momentum",
                                   {"learning_rate": [0.01, 0.02], "momentum": [0.0, 0.9]},
                                   steps=40, observe=Observe(record_every=5, best=True))
    assert experiment.total == 4 and experiment.shape == (2, 2)
    assert experiment.dims == ("learning_rate", "momentum")
    assert not experiment.noisy and experiment.steps_per_epoch is None
    attrs = experiment.attrs()
    assert attrs["record_every"] == 5 and attrs["best"] == 1 and "keep_tail" not in attrs
    assert set(lrscape.experiment.CONFIG_KEYS) >= {"best", "keep_tail", "record_every"}


@pytest.mark.parametrize("fields", [
    {}, {"curvature_every": 10, "curvature_k": 2, "lyapunov": True, "keep_tail": True,
         "trainability": True, "best": True, "path_every": 2}])
def test_every_output_of_the_program_is_in_the_schema_with_its_dims_and_dtype(fields):
    """The schema (observe.VARIABLES) is what the store and the Dataset are built from: it must
    describe what the compiled program returns, on a deterministic and a finite-sum task."""
    for landscape in (VALLEY, lrscape.landscapes.get("linear-regression")):
        experiment = Experiment.create(landscape, "sgd", GRID, steps=40,
                                       observe=Observe(**fields))
        job = ChunkJob(experiment)
        devices = jax.local_devices()
        program = simulate.compiled_chunk(job.spec_for(devices))
        out = jax.eval_shape(program, *job.shared, *job.inputs(0, 8))  # traced, not compiled
        for name, shape in out.items():
            schema = observe.variable(name)
            assert len(shape.shape) == 1 + len(schema.dims), name
            want = experiment.dtype if schema.dtype == "float" else np.dtype(schema.dtype)
            assert shape.dtype == want, name


def _heavy_ball_losses(lam: float, eta: float, beta: float, x0: float, steps: int):
    """Heavy ball on 0.5 * lam * x^2, in float64 Python: the loss after each of 0..steps
    updates."""
    x, v, losses = x0, 0.0, []
    for _ in range(steps):
        losses.append(0.5 * lam * x * x)
        v = lam * x + beta * v
        x = x - eta * v
    losses.append(0.5 * lam * x * x)
    return np.array(losses)


def test_the_best_loss_is_the_smallest_of_every_step_and_where_it_was():
    """Against a plain loop, for heavy ball whose loss falls and rises as the iterate swings
    through the minimum, runs that diverge (best at their start) and a monotone one (best at
    its end); all float64."""
    lam, x0, steps = 1.0, 1.0, 60
    q = lrscape.landscapes.get("quadratic", eigenvalues=[lam])
    etas, betas = [0.05, 0.5, 1.9, 4.5], [0.0, 0.8]
    ds = lrscape.sweep(q, "momentum", {"learning_rate": etas, "momentum": betas}, steps=steps,
                       x0=[x0], dtype="float64", progress=False,
                       observe=Observe(record_every=5, best=True))
    for eta in etas:
        for beta in betas:
            losses = _heavy_ball_losses(lam, eta, beta, x0, steps)
            if np.any(losses > 1e6 * losses[0]):  # diverged: only the losses before count
                losses = losses[: np.argmax(losses > 1e6 * losses[0])]
            point = ds.sel(learning_rate=eta, momentum=beta)
            assert int(point.best_step) == int(np.argmin(losses)), (eta, beta)
            np.testing.assert_allclose(float(point.best_loss), losses.min(), rtol=1e-9)
    assert int(ds.best_step.sel(learning_rate=4.5, momentum=0.0)) == 0  # diverging at once
    assert int(ds.best_step.sel(learning_rate=0.05, momentum=0.0)) == steps  # monotone
    # underdamped: the loss rises between its minima, so the smallest is no last value
    assert np.any(np.diff(_heavy_ball_losses(lam, 0.5, 0.8, x0, steps)) > 0)
