"""What the figures and warnings say: honest words per landscape, fixed hyperparameters in
titles, borderline labels marked, the Lyapunov exponent's neutral band, idle seed axes."""

import warnings

import jax
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

import lrscape
from lrscape import plot
from lrscape.experiment import Experiment
from lrscape.regimes import DISPLAY_ORDER, NOT_COMPUTED, Regime

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


# -- the figures, drawn from Datasets made here: the experiment's attributes, no simulation --

def _dataset(landscape, optimizer, grid, regime, **variables) -> xr.Dataset:
    """A Dataset as a sweep of ``grid`` returns it, with the ``regime`` given (and any other
    variables), its attributes those the experiment stores."""
    experiment = Experiment.create(landscape, optimizer, grid, steps=50)
    dims = experiment.dims
    data = {"regime": (dims, np.asarray(regime, np.int8))}
    data.update({name: (dims, np.asarray(v, float), attrs)
                 for name, (v, attrs) in variables.items()})
    coords = {a.name: (a.name, a.values, {"spacing": "log" if a.name == "learning_rate"
                                          else "linear"}) for a in experiment.axes}
    return xr.Dataset(data, coords=coords, attrs=experiment.attrs())


def _legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


RATES = {"learning_rate": lrscape.logspace(1e-3, 0.1, 6)}


def test_only_a_valley_is_said_to_bounce_across_the_valley():
    regime = [0, 0, 1, 1, 4, 4]
    valley = plot.phase_diagram(_dataset("narrow-valley", "sgd", RATES, regime))
    assert "oscillatory (bouncing across the valley)" in _legend(valley)
    bowl = _dataset("quadratic", "sgd", RATES, regime)
    assert bowl.attrs["oscillation_words"] == "zig-zag: successive steps reverse"
    legend = _legend(plot.phase_diagram(bowl))
    assert "oscillatory (zig-zag: successive steps reverse)" in legend
    assert not any("valley" in text for text in legend)
    # a store written before the words were stored: the registered landscape's, else generic
    older = _dataset("twisted-valley", "sgd", RATES, regime)
    del older.attrs["oscillation_words"]
    assert plot.oscillation_words(older) == "bouncing across the valley"
    older.attrs["landscape"] = "a-users-landscape-not-imported"
    assert plot.oscillation_words(older) == "zig-zag: successive steps reverse"
    plt.close("all")


def test_legends_list_the_regimes_present_from_calm_to_wild():
    regime = [4, 3, 1, 5, 0, 0]  # no PERIODIC
    ds = _dataset("quadratic", "momentum", RATES, regime, lyapunov=([0.0] * 6, {}))
    labels = plot.regime_labels(ds)
    want = [labels[r] for r in DISPLAY_ORDER if r != Regime.PERIODIC]
    assert _legend(plot.phase_diagram(ds, overlays=None)) == want
    assert want[1] == "ringing (overshoots and swings back)"
    assert _legend(plot.lyapunov_map(ds))[1:] == want[:-1]  # the band first; diverged: none
    assert [ds.regime.sel(p, method="nearest").item() for p in plot.representative_points(
        ds, "learning_rate", None)] == [0, 5, 1, 3, 4]
    plt.close("all")


def test_titles_name_the_optimizers_fixed_hyperparameters():
    one_axis = _dataset("quadratic", "momentum", RATES, [0] * 6)
    assert plot._title(one_axis) == "quadratic · momentum (β = 0.9 fixed) · 50 steps"
    grid = {"learning_rate": [0.01, 0.1], "momentum": [0.0, 0.5]}
    both = _dataset("quadratic", "momentum", grid, [[0, 0], [1, 1]])
    assert plot._title(both) == "quadratic · momentum · 50 steps"  # swept, not fixed
    # a slice of it says the momentum drawn, as before
    assert plot._title(both.sel(momentum=0.5)).endswith("· momentum = 0.5")
    assert plot._title(_dataset("quadratic", "sgd", RATES, [0] * 6)).startswith(
        "quadratic · sgd · ")
    adam = _dataset("quadratic", "adam", RATES, [0] * 6)
    assert "adam (β₁ = 0.9, β₂ = 0.999, ε = 1e-08 fixed)" in plot._title(adam)
    rate = _dataset("quadratic", lrscape.optimizers.get("sgd", learning_rate=0.05),
                    {"gradient_noise": [0.0, 0.1]}, [0, 1])
    assert "sgd (η = 0.05 fixed)" in plot._title(rate)
    plt.close("all")


def _hatches(ax) -> list:
    return [c for c in ax.collections if c.get_hatch()]


def _hatched_runs(ax) -> set[tuple[float, float]]:
    """The (x, y) centres of the hatch's rectangles, one per run of borderline cells along a
    row, in data coordinates."""
    (hatch,) = _hatches(ax)
    return {tuple(np.round(path.vertices[:4].mean(axis=0), 9)) for path in hatch.get_paths()}


GRID = {"learning_rate": [0.01, 0.02, 0.04], "momentum": [0.0, 0.5]}
REGIME = [[0, 0], [1, 5], [4, 4]]  # (learning_rate, momentum)
MARGIN = [[1.0, 0.05], [0.02, 0.03], [np.nan, 0.5]]  # borderline: three, in two runs


def test_borderline_labels_are_hatched_and_the_legend_says_what_that_means():
    ds = _dataset("quadratic", "momentum", GRID, REGIME,
                  label_margin=(MARGIN, {"borderline": 0.1}))
    marked, threshold = plot.borderline_labels(ds)
    assert threshold == 0.1 and marked.sum() == 3  # NaN is not borderline
    ax = plot.phase_diagram(ds, overlays=None)
    (hatch,) = _hatches(ax)
    assert len(hatch.get_paths()) == 2  # momentum 0.5: rates 0.01 and 0.02 merged into one run
    assert _legend(ax)[-1] == "hatched: borderline label (margin < 0.1)"
    # the threshold is the Dataset's; a trajectory not computed is not marked
    ds["label_margin"].attrs["borderline"] = 0.6
    edges = plot._edges(ds.learning_rate.values, log=True)
    for regime, marked, run_ends in ((4, 4, edges[3]), (NOT_COMPUTED, 3, edges[2])):
        ds["regime"][2, 1] = regime
        assert plot.borderline_labels(ds)[0].sum() == marked
        ax = plot.phase_diagram(ds, overlays=None)
        (hatch,) = _hatches(ax)
        assert max(path.vertices[:, 0].max() for path in hatch.get_paths()) == run_ends
        assert _legend(ax)[-1] == "hatched: borderline label (margin < 0.6)"
    plt.close("all")


def test_no_marks_without_a_margin_or_without_a_borderline_label():
    older = _dataset("quadratic", "momentum", GRID, REGIME)
    assert plot.borderline_labels(older) is None
    for ds in (older, _dataset("quadratic", "momentum", GRID, REGIME,
                               label_margin=(np.ones((3, 2)), {}))):
        ax = plot.phase_diagram(ds, overlays=None)
        assert not _hatches(ax) and not any("hatched" in t for t in _legend(ax))
    plt.close("all")


def test_a_strip_and_a_long_axis_hatch_the_cells_they_draw():
    rates = {"learning_rate": lrscape.logspace(1e-3, 0.1, 40)}
    margin = np.where(np.arange(40) % 10 == 9, 0.0, 1.0)  # 9, 19, 29, 39
    ds = _dataset("narrow-valley", "sgd", rates, [0] * 40, label_margin=(margin, {}))
    ax = plot.phase_diagram(ds)
    edges = plot._edges(ds.learning_rate.values, log=True)
    centres = {(round(float(np.mean(edges[i:i + 2])), 9), 0.5) for i in (9, 19, 29, 39)}
    assert _hatched_runs(ax) == centres
    # drawn from 14 of the 40 values: those of them that are borderline, 9 and 39
    assert {9, 39} == {9, 19, 29, 39} & set(plot._evenly_spaced(40, 14).tolist())
    assert len(_hatched_runs(plot.phase_diagram(ds, max_cells=14))) == 2
    plt.close("all")


def test_the_trajectories_drawn_for_each_regime_are_clear_cut_where_it_has_such():
    ds = _dataset("quadratic", "sgd", RATES, [0, 0, 0, 1, 1, 4],
                  label_margin=([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], {}))
    points = plot.representative_points(ds, "learning_rate", None)
    chosen = [int(np.argmin(abs(ds.learning_rate.values - p["learning_rate"]))) for p in points]
    assert chosen == [2, 4, 5]  # MONOTONE: 0 or 2, not 1; OSCILLATORY has none clear-cut
    plt.close("all")


def test_the_lyapunov_map_draws_a_slightly_positive_exponent_as_neutral():
    """Every run of a small network has an exponent of about +1e-5 per step, monotone ones
    too: white, not the scale's red; a clearly positive one is red."""
    steps = 50
    neutral = plot.lyapunov_neutral(steps)
    assert neutral == pytest.approx(np.log(50) / 50)
    exponent = [[1e-5, 2e-5], [-1e-5, 3e-5], [0.8, np.nan]]
    ds = _dataset("mlp", "momentum", GRID, REGIME, lyapunov=(exponent, {}))
    ax = plot.lyapunov_map(ds)
    assert "neutral, not chaos" in ax.get_title() and f"{neutral:.2g}" in ax.get_title()
    (mesh,) = ax.collections
    colours = mesh.to_rgba(mesh.get_array()).reshape(2, 3, 4)  # (momentum, learning_rate)
    np.testing.assert_array_equal(colours[:, :2, :3], 1.0)  # white: neutral
    red, green, blue, _ = colours[0, 2]
    assert red > 0.4 > max(green, blue)
    assert mesh.norm.vmax >= plot.LYAPUNOV_SCALE_BANDS * neutral
    # all neutral: the scale still reaches ten bands, so nothing is coloured as chaos
    ds["lyapunov"][:] = 1e-5
    (mesh,) = plot.lyapunov_map(ds).collections
    np.testing.assert_array_equal(mesh.to_rgba(mesh.get_array())[:, :3], 1.0)
    # one axis: the band is shaded behind the points
    ax = plot.lyapunov_map(ds.isel(momentum=0))
    assert _legend(ax)[0] == f"neutral: |λ| < ln T / T = {neutral:.2g}"
    plt.close("all")
