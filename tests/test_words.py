"""What the figures and warnings say: honest words per landscape, fixed hyperparameters in
titles, borderline labels marked, the Lyapunov exponent's neutral band, idle seed axes."""

import warnings

import jax
import numpy as np
import pytest

import lrscape
from lrscape.experiment import Experiment

SEEDS = {"learning_rate": [0.1], "seed": [0, 1]}


def test_a_landscape_declares_whether_its_start_is_drawn_from_the_key(landscape_name):
    """``random_start`` is what ``init`` does: two keys give two starts exactly when it is
    True (checked on every registered landscape, so a new one cannot declare it wrongly)."""
    landscape = lrscape.landscapes.get(landscape_name)
    starts = [landscape.init(jax.random.key(k)) for k in (0, 1)]
    same = all(np.array_equal(a, b) for a, b in zip(*map(jax.tree.leaves, starts), strict=True))
    assert same != type(landscape).random_start


def _idle_seed_warnings(*args, **kwargs) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Experiment.create(*args, **kwargs)
    return [str(w.message) for w in caught if "every seed runs the same" in str(w.message)]


def test_a_seed_axis_that_cannot_change_anything_is_warned_of_before_compiling():
    (message,) = _idle_seed_warnings("quadratic", "sgd", SEEDS)
    assert message.startswith("seed axis: the landscape 'quadratic' starts at a fixed point "
                              "and has no noise, so every seed runs the same trajectory")
    assert _idle_seed_warnings("narrow-valley", "momentum", SEEDS)
    # an x0 fixes a random start too
    rugged = lrscape.landscapes.get("rugged-quadratic")
    (message,) = _idle_seed_warnings(rugged, "sgd", SEEDS, x0=np.zeros(rugged.dim))
    assert "every trajectory starts at the given x0" in message and "leave x0 unset" in message


@pytest.mark.parametrize("landscape, keywords", [
    ("rugged-quadratic", {}),  # the start is drawn from the seed
    ("noisy-quadratic", {}),  # the minibatches are
    ("quadratic", {"gradient_noise": 0.1}),  # the gradient noise is
    ("quadratic", {"grid": {**SEEDS, "gradient_noise": [0.0, 0.1]}}),
    ("quadratic", {"grid": {"learning_rate": [0.1, 0.2]}}),  # no seed axis
])
def test_a_seed_axis_that_changes_the_runs_is_not_warned_of(landscape, keywords):
    grid = keywords.pop("grid", SEEDS)
    assert _idle_seed_warnings(landscape, "sgd", grid, **keywords) == []


def test_the_warning_points_at_the_users_call():
    with pytest.warns(UserWarning, match="seed axis") as caught:
        lrscape.sweep("quadratic", "sgd", SEEDS, steps=8, record_every=2, progress=False)
    (warning,) = [w for w in caught if "seed axis" in str(w.message)]
    assert warning.filename == __file__
