"""Small parameter arrays carried as scalars: the same numbers as carrying the arrays."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrscape
from lrscape._carry import MAX_SPLIT_SIZE, ParamLayout


def test_carry_and_join_round_trip_and_leave_large_and_scalar_leaves_alone():
    params = {"small": jnp.arange(4.0).reshape(2, 2), "large": jnp.arange(5.0),
              "scalar": jnp.float32(3.0)}
    layout = ParamLayout(params, split=True)
    carried = layout.carry(params)
    assert isinstance(carried["small"], tuple) and len(carried["small"]) == 4
    assert carried["large"] is params["large"] and carried["scalar"] is params["scalar"]
    joined = layout.join(carried)
    for name in params:
        np.testing.assert_array_equal(joined[name], params[name])
    assert not ParamLayout(params, split=False).active
    assert ParamLayout(jnp.zeros(MAX_SPLIT_SIZE + 1), split=True).active is False


def _unsplit(name: str) -> lrscape.optimizers.Optimizer:
    return dataclasses.replace(lrscape.optimizers.get(name), elementwise=False)


@pytest.mark.parametrize("options", [
    {},
    {"gradient_noise": 0.3, "seed": 4, "lyapunov": True},
])
def test_a_split_sweep_gives_the_numbers_of_an_unsplit_one(options):
    valley = lrscape.landscapes.get("narrow-valley", wall_growth=0.05)
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.03, 6), "momentum": [0.0, 0.5, 0.9]}
    kwargs = dict(steps=100, record_every=10, progress=False, **options)
    split = lrscape.sweep(valley, "momentum", grid, **kwargs)
    whole = lrscape.sweep(valley, _unsplit("momentum"), grid, **kwargs)
    np.testing.assert_array_equal(split.regime.values, whole.regime.values)
    for name in split.data_vars:
        if np.issubdtype(split[name].dtype, np.floating):
            np.testing.assert_allclose(split[name].values, whole[name].values, rtol=2e-5,
                                       atol=1e-6, equal_nan=True, err_msg=name)


def test_only_optimizers_known_to_be_elementwise_are_split():
    assert lrscape.optimizers.get("adam").elementwise
    assert lrscape.optimizers.get(optax.adam).elementwise
    assert not lrscape.optimizers.get(optax.lamb).elementwise
