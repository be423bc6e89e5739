"""Bad input: a clear ValueError naming the argument and the value, before any compile."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrscape
from tests.test_sweep import CompileCounter

VALLEY = lrscape.landscapes.get("narrow-valley")
LR = {"learning_rate": [0.01, 0.02]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"landscape": "valley"}, "unknown landscape 'valley'"),
        ({"landscape": 3.0}, "`landscape` must be a Landscape"),
        ({"optimizer": "sgdm"}, "unknown optimizer 'sgdm'"),
        ({"grid": {"lr": [0.1]}}, "unknown grid key 'lr'.*learning_rate"),
        ({"grid": {"learning_rate": []}}, "grid axis 'learning_rate' is empty"),
        ({"grid": {"learning_rate": [0.1, float("nan")]}}, "non-finite value: nan"),
        ({"grid": {"learning_rate": [0.1, float("inf")]}}, "non-finite value: inf"),
        ({"grid": {"learning_rate": [[0.1, 0.2]]}}, "must be 1-D"),
        ({"grid": {"learning_rate": ["fast"]}}, "values must be numbers"),
        ({"grid": {"learning_rate": [0.1], "wall_curvature": [-1.0]}},
         "grid axis 'wall_curvature'.*must be > 0, got -1.0"),
        ({"grid": {"learning_rate": [0.1], "dim": [2, 3]}}, "'dim'.*cannot be a grid axis"),
        ({"grid": {"learning_rate": [0.1], "seed": [0.5]}}, "seeds must be integers"),
        # an axis is ordered, each value once: its points are looked up by their values
        ({"grid": {"learning_rate": [0.1, 0.2, 0.1]}},
         r"grid axis 'learning_rate' holds 0.1 2 times: give each value once \(repeat runs "
         "along a `seed` axis"),
        ({"grid": {"learning_rate": [0.1], "seed": [0, 1, 1]}}, "'seed' holds 1 2 times"),
        ({"grid": {"learning_rate": [0.03, 0.001, 0.01]}},
         r"'learning_rate' is not in order: give its values increasing or decreasing \(sorted: "
         r"\[0.001, 0.01, 0.03\]\)"),
        ({"thresholds": {"max_periods": 8}},
         r"`thresholds`: unknown \['max_periods'\]; the thresholds are \['divergence_ratio'"),
        ({"grid": {"learning_rate": [0.1], "optimizer.learning_rate": [0.2]}},
         "sweep the same thing twice"),
        ({"grid": {"landscape.curvature": [1.0], "learning_rate": [0.1]}},
         "landscape has no sweepable 'curvature'"),
        ({"grid": {"momentum": [0.5]}}, "needs learning_rate"),
        ({"grid": {"learning_rate": [0.1, -0.01]}},
         "grid axis 'learning_rate'.*'learning_rate' must be >= 0, got -0.01"),
        ({"optimizer": "adam", "grid": {"learning_rate": [0.1], "b2": [0.99, 1.0]}},
         r"grid axis 'b2'.*must be in \[0, 1\), got 1.0"),
        ({"grid": [0.1, 0.2]}, "`grid` must be a mapping"),
        ({"steps": 0}, "`steps` must be an integer >= 1, got 0"),
        ({"steps": -5}, "`steps` must be an integer >= 1, got -5"),
        ({"steps": 10.5}, "`steps` must be an integer >= 1, got 10.5"),
        ({"record_every": 0}, "`record_every` must be an integer >= 1, got 0"),
        ({"steps": 100, "record_every": 30}, "`record_every` = 30 does not divide `steps` = 100"),
        ({"seed": -1}, "`seed` must be an integer"),
        ({"dtype": "float16"}, "`dtype` must be float32 or float64"),
        ({"dtype": "int32"}, "`dtype` must be float32 or float64"),
        ({"chunk_size": 0}, "`chunk_size` must be an integer >= 1 or None, got 0"),
        ({"thresholds": {"max_period": 1}}, "`max_period` must be an integer >= 2"),
        ({"thresholds": {"oscilation_threshold": 0.5}}, "`thresholds`.*oscilation_threshold"),
        ({"thresholds": {"period_rtol": -1.0}}, "`period_rtol` must be a finite number > 0"),
        ({"schedule": "cosin"}, "unknown schedule 'cosin'"),
        ({"schedule": 0.5}, "`schedule` must be a Schedule, a registry name or a function"),
        ({"schedule": lambda t: 1.0 if t < 50 else 0.1},
         r"`schedule` .*<lambda> must be a JAX function.*jnp.where.*TracerBoolConversionError"),
        ({"schedule": lambda t: jnp.ones(2)}, r"one real number per step, got shape \(2,\)"),
        ({"optimizer": optax.adam(0.1)}, "`optimizer` must be an optax factory such as"),
        ({"steps": 5, "record_every": 10}, r"does not divide `steps` = 5.*choose e.g. steps=10$"),
        ({"devices": []}, "`devices` is empty"),
        ({"x0": [1.0, 2.0, 3.0]}, r"`x0` must have the shapes of NarrowValley's parameters \(2,\)"),
        ({"x0": [1.0, float("nan")]}, "`x0` must be finite"),
    ],
)
def test_bad_input_is_refused_before_compiling(kwargs, message):
    args = {"landscape": VALLEY, "optimizer": "momentum", "grid": LR, "steps": 100,
            "progress": False, **kwargs}
    with CompileCounter() as compiles, pytest.raises(ValueError, match=message):
        lrscape.sweep(args.pop("landscape"), args.pop("optimizer"), args.pop("grid"), **args)
    assert compiles.count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stepz": 100}, r"`refine` got unknown keyword\(s\) \['stepz'\]; it passes on"),
        ({"steps": 0}, "`steps` must be an integer >= 1, got 0"),
        ({"keep_tail": "yes"}, "`keep_tail` must be True or False, got 'yes'"),
        ({"curvature_k": 3}, "`curvature_k` = 3 acts only with `curvature_every`"),
        ({"thresholds": {"max_periods": 8}}, r"`thresholds`: unknown \['max_periods'\]"),
        ({"chunk_size": 64}, "pass `block`, not `chunk_size`"),
        ({"max_memory": "lots"}, "`max_memory` must be"),
        ({"executor": "dask"}, "`executor` must be 'local', 'ray' or an executor"),
        ({"records": 1}, "`records` must be True or False"),
        ({"store": "x.zarr"}, "`refine` makes its own points"),
    ],
)
def test_refine_checks_the_sweeps_arguments_before_compiling(kwargs, message):
    axes = {"learning_rate": lrscape.logspace(1e-3, 0.1, 9), "momentum": np.linspace(0, 0.9, 9)}
    with CompileCounter() as compiles, pytest.raises(ValueError, match=message):
        lrscape.refine(VALLEY, "momentum", axes, coarse=5, **kwargs)
    assert compiles.count == 0


@pytest.mark.parametrize(
    ("function", "message"),
    [(lambda t: 1.0 - t / 50, "finite multipliers >= 0, got -0.02 at update 51"),
     (lambda t: jnp.log(t - 2.0), "finite multipliers >= 0, got nan at update 0")],
)
def test_a_function_schedule_with_bad_multipliers_is_refused_before_the_sweep_compiles(
    function, message
):
    with CompileCounter() as compiles, pytest.raises(ValueError, match=message):
        lrscape.sweep(VALLEY, "momentum", LR, steps=100, schedule=function, progress=False)
    assert compiles.count <= 1  # the schedule's own evaluation over the run's updates


def test_ambiguous_key_asks_for_a_prefix():
    # A custom optax factory whose hyperparameter shares a name with a landscape field.
    def factory(learning_rate, start=0.0):
        import optax

        return optax.sgd(learning_rate)

    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    with pytest.raises(ValueError, match="'start' names both.*write optimizer.'start' or"):
        lrscape.sweep(q, factory, {"learning_rate": [0.1], "start": [1.0, 2.0]}, steps=10,
                      progress=False)
    ds = lrscape.sweep(q, factory, {"learning_rate": [0.1], "landscape.start": [1.0, 2.0]},
                       steps=10, progress=False)
    np.testing.assert_allclose(ds.initial_loss.values[0], [0.5, 2.0])


def test_logspace_and_parse_axis_errors():
    with pytest.raises(ValueError, match="`start` must be finite and > 0, got 0"):
        lrscape.logspace(0, 1, 10)
    with pytest.raises(ValueError, match="number of points must be an integer >= 1, got 0"):
        lrscape.linspace(0, 1, 0)
    with pytest.raises(ValueError, match="expected START:STOP:NUM"):
        lrscape.grid.parse_axis("1e-4:1")
    with pytest.raises(ValueError, match="expected comma-separated numbers"):
        lrscape.grid.parse_axis("a,b")
    np.testing.assert_allclose(lrscape.grid.parse_axis("1e-4:1:5:log"),
                               [1e-4, 1e-3, 1e-2, 1e-1, 1])
    np.testing.assert_allclose(lrscape.grid.parse_axis("0:1:3"), [0, 0.5, 1])
    np.testing.assert_allclose(lrscape.grid.parse_axis("0.1, 0.3"), [0.1, 0.3])


