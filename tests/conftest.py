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


@pytest.fixture
def no_compiled_programs() -> None:
    """Forget every program this process compiled, so a test that counts compilations (or spies
    on tracing) does not depend on which tests ran before it in the same process."""
    from lrscape import chunks, plan, simulate

    simulate.compiled_chunk.cache_clear()
    chunks._PROGRAMS.clear()
    plan._MEMORY.clear()


@pytest.fixture
def user_registry():
    """``lrscape.landscapes.register``, forgetting what a test registers with it, so that
    registry-wide tests see only the library's landscapes."""
    registry = lrscape.landscapes._base.REGISTRY
    before = dict(registry._entries)
    yield lrscape.landscapes.register
    registry._entries.clear()
    registry._entries.update(before)
