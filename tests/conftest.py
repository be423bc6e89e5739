"""Test configuration: four CPU devices, so every sweep in the suite is really sharded.

XLA reads the device count when the backend starts, so it is set here, before any test
imports JAX.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

import lrscape  # noqa: E402


@pytest.fixture(params=lrscape.landscapes.available())
def landscape_name(request: pytest.FixtureRequest) -> str:
    """Every registered landscape: a new one is covered by these tests automatically."""
    return request.param


@pytest.fixture
def key() -> jax.Array:
    return jax.random.key(0)
