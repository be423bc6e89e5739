"""Fixtures shared by the tests (the device set-up is in the root conftest.py)."""

import jax
import pytest

import lrscape


@pytest.fixture(params=lrscape.landscapes.available())
def landscape_name(request: pytest.FixtureRequest) -> str:
    """Every registered landscape: a new one is covered by these tests automatically."""
    return request.param


@pytest.fixture
def key() -> jax.Array:
    return jax.random.key(0)
