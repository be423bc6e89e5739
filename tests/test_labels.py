"""Labels decided by the dynamics: against the local linearisation, whatever the start.

Each test builds a case whose label theory fixes (the roots of the linearised map at the
attractor) and checks the sweep's own label, from several starts and in both precisions.
"""

import collections

import numpy as np
import pytest

import lrscape
from lrscape import Regime, theory

# The double well f = (x^2 - 1)^2 / 4 has f'' = 2 at its minima x = +-1: gradient descent
# settles smoothly for eta < 1/2 (multiplier 1 - 2 eta > 0), in a zig-zag for 1/2 < eta < 1.
SMOOTH_RATES = (0.1, 0.3, 0.45)
ZIGZAG_RATES = (0.6, 0.7, 0.8, 0.9, 0.95)
STARTS = (-1.6, -0.05, 0.6, 1.4)  # both basins, near and far
MORE_STARTS = (-1.2, -0.4, 0.2, 0.99, 1.55, -1.45)


def _double_well(start: float, rates, dtype: str, **kwargs):
    well = lrscape.landscapes.get("double-well", start=start)
    return lrscape.sweep(well, "sgd", {"learning_rate": list(rates)}, steps=1000,
                         dtype=dtype, progress=False, **kwargs)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "start", [*STARTS, *(pytest.param(s, marks=pytest.mark.slow) for s in MORE_STARTS)])
def test_double_well_labels_follow_the_linearisation_whatever_the_start(start, dtype):
    ds = _double_well(start, SMOOTH_RATES + ZIGZAG_RATES, dtype)
    regime = [Regime(r) for r in ds.regime.values]
    expected = [Regime.MONOTONE] * len(SMOOTH_RATES) + [Regime.OSCILLATORY] * len(ZIGZAG_RATES)
    assert regime == expected, list(zip(SMOOTH_RATES + ZIGZAG_RATES, regime, strict=True))


def test_one_overshoot_is_not_a_zigzag():
    # From x0 = 1.5 at eta = 0.3 the first step jumps to 0.9375, past the minimum, and the
    # rest of the run creeps up to 1 from below: one reversal, then a smooth approach.
    ds = _double_well(1.5, [0.3], "float64")
    assert ds.regime.item() == Regime.MONOTONE
    assert ds.oscillation.item() > 0.9  # the whole-run share is dominated by that one pair
    assert ds.reversals.item() <= 1


def test_heavy_ball_rings_across_its_complex_root_band():
    # beta = 0.9: complex roots for (1 - sqrt(beta))^2 < eta*lambda < (1 + sqrt(beta))^2; the
    # loss climbs back again and again, so the run is never "smooth descent".
    beta = 0.9
    low = float(theory.heavy_ball_ringing_edge(beta))
    high = (1 + np.sqrt(beta)) ** 2
    eta_lambda = lrscape.logspace(low * 1.05, high * 0.99, 80)
    quadratic = lrscape.landscapes.get("quadratic", eigenvalues=[2.0])
    ds = lrscape.sweep(quadratic, lrscape.optimizers.get("momentum", momentum=beta),
                       {"learning_rate": eta_lambda / 2.0}, steps=600, progress=False)
    regime = ds.regime.values
    assert not np.any(regime == Regime.MONOTONE)
    quarter = float(theory.heavy_ball_oscillation_edge(beta))
    assert np.all(regime[eta_lambda < 0.99 * quarter] == Regime.RINGING)
    assert np.all(regime[eta_lambda > 1.03 * quarter] == Regime.OSCILLATORY)


@pytest.mark.parametrize("start", [-1.3, 0.3, 1.2])
def test_heavy_ball_on_the_double_well_rings_by_its_linearisation(start):
    # An independent non-quadratic case: at the minimum h = eta f'' = 2 eta, so with beta = 0.5
    # heavy ball is overdamped below h = (1 - sqrt(0.5))^2 = 0.086, rings up to h = 1.5 and
    # rings above, whatever the start in the basin. (Where it zig-zags, above h = 1.5, the
    # transient from these starts still outweighs the approach in the whole-run share that
    # decides momentum's zig-zag: a known limit, see regimes.py.)
    beta = 0.5
    h = np.array([0.04, 0.07, 0.2, 0.6, 1.0, 1.3])
    expected = [Regime.MONOTONE] * 2 + [Regime.RINGING] * 4
    well = lrscape.landscapes.get("double-well", start=start)
    ds = lrscape.sweep(well, lrscape.optimizers.get("momentum", momentum=beta),
                       {"learning_rate": h / 2}, steps=2000, dtype="float64", progress=False)
    assert [Regime(r) for r in ds.regime.values] == expected


def test_a_bounded_orbit_that_never_settles_is_never_smooth_descent():
    # experiments/chaos.py's settings: between the period-doubling cascade's end (1.31) and
    # the divergence edge (2) every orbit is bounded; each is PERIODIC or CHAOTIC, and the
    # few that are still settling after 4,000 steps are labelled by their zig-zag.
    etas = lrscape.linspace(1.3101, 1.9999, 120)
    ds = lrscape.sweep(lrscape.landscapes.get("double-well", start=0.5), "sgd",
                       {"learning_rate": etas}, steps=4000, record_every=100,
                       thresholds={"max_period": 64}, progress=False)
    counts = collections.Counter(Regime(r).name for r in ds.regime.values)
    assert "MONOTONE" not in counts and "DIVERGED" not in counts, counts
    assert counts["CHAOTIC"] + counts["PERIODIC"] >= 110, counts


def test_with_a_lyapunov_exponent_a_long_cycle_is_periodic_not_chaotic():
    # The double well's period-4 orbit at eta = 1.25 is too long for a detector with
    # max_period = 2; its Lyapunov exponent is negative, so it is a cycle, not chaos.
    ds = lrscape.sweep(lrscape.landscapes.get("double-well", start=0.5), "sgd",
                       {"learning_rate": [1.25, 1.6]}, steps=3000, lyapunov=True,
                       thresholds={"max_period": 2}, progress=False)
    # eta = 1.25: period 4 (too long for max_period 2), negative exponent -> PERIODIC;
    # eta = 1.6: chaos, positive exponent -> CHAOTIC.
    assert ds.lyapunov.values[0] < 0 < ds.lyapunov.values[1]
    assert list(ds.regime.values) == [Regime.PERIODIC, Regime.CHAOTIC]
    assert ds.period.values[0] == 0


def test_a_run_that_spikes_at_its_end_after_recovering_is_not_diverged():
    # Adam on Rosenbrock: some runs come down from 24.2 to below 1 and end on a spike.
    ds = lrscape.sweep(lrscape.landscapes.get("rosenbrock"), "adam",
                       {"learning_rate": lrscape.logspace(1e-3, 1.0, 24),
                        "b1": lrscape.linspace(0.0, 0.99, 6)}, steps=1000, progress=False)
    diverged = ds.regime.values == Regime.DIVERGED
    recovered = ds.late_low.values < ds.initial_loss.values
    assert not np.any(diverged & recovered)


def test_classify_growing_needs_the_last_quarter_to_stay_above_the_start():
    th = lrscape.regimes.Thresholds()
    stats = {"initial_loss": np.array([1.0, 1.0]), "final_loss": np.array([50.0, 50.0]),
             "late_change": np.array([3.0, 3.0]), "late_low": np.array([2.0, 0.1])}
    grows, margin = lrscape.regimes.growing(stats, th)
    assert list(np.asarray(grows)) == [True, False]
    assert np.all(np.asarray(margin) > 0)


def test_margins_are_small_on_a_threshold_large_away_and_reclassify_keeps_them():
    th = lrscape.regimes.Thresholds()
    share = np.array([0.52, 0.9, 0.48, 0.05])
    stats = {"diverged": np.zeros(4, bool), "converged": np.ones(4, bool),
             "period": np.ones(4, np.int32), "period_mismatch": np.zeros(4),
             "oscillation": share, "late_oscillation": np.zeros(4),
             "late_change": np.full(4, -0.5), "late_low": np.full(4, 0.1),
             "initial_loss": np.ones(4), "final_loss": np.full(4, 1e-9),
             "approach_reversal": share, "reversals": np.array([30, 30, 0, 0]),
             "quiet_stretch": np.array([0.01, 0.01, np.nan, np.nan]),
             "zigzag_progress": np.zeros(4)}
    regime, margin = lrscape.regimes.classify(stats, th)
    assert [Regime(r) for r in np.asarray(regime)] == [Regime.OSCILLATORY] * 2 + [
        Regime.MONOTONE] * 2
    margin = np.asarray(margin)
    assert margin[0] < th.borderline and margin[2] < th.borderline
    assert margin[1] > 0.5 and margin[3] > 0.5
    ds = _double_well(0.6, SMOOTH_RATES + ZIGZAG_RATES, "float64")
    assert ds.label_margin.attrs["borderline"] == th.borderline
    assert np.all((ds.label_margin.values >= 0) & (ds.label_margin.values <= 1))
    again = lrscape.reclassify(ds)
    np.testing.assert_array_equal(again.regime.values, ds.regime.values)
    np.testing.assert_allclose(again.label_margin.values, ds.label_margin.values, rtol=1e-5)
    assert lrscape.reclassify(ds, borderline=0.01).label_margin.attrs["borderline"] == 0.01


def test_the_borderline_of_the_sweeps_thresholds_is_stored_with_the_margins():
    ds = _double_well(0.6, [0.3], "float32", thresholds={"borderline": 0.2})
    assert ds.label_margin.attrs["borderline"] == 0.2


def test_gradient_descent_in_one_dimension_never_rings():
    # The 1-D map x -> x - eta f'(x) has one real multiplier at its attractor: it cannot
    # swing back and forth slowly. Overshoots on the way in (from far starts) are transients.
    starts = lrscape.linspace(-1.9, 1.9, 39)
    ds = lrscape.sweep(lrscape.landscapes.get("double-well"), "sgd",
                       {"start": starts, "learning_rate": [0.05, 0.2, 0.4, 0.45, 0.48]},
                       steps=600, progress=False)
    assert not np.any(ds.regime.values == Regime.RINGING)
    settled = ds.regime.values[np.abs(starts) <= 1.45]  # these stay in their basins
    assert np.all(settled == Regime.MONOTONE)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradient_descent_never_rings_where_its_jacobian_is_symmetric(dtype):
    # Gradient descent's Jacobian I - eta H is symmetric: its roots are real, whatever the
    # landscape, so it can zig-zag or settle but never ring. Rounding noise at a minimum away
    # from the origin (the rugged quadratic, Rosenbrock) must not count as turning around.
    rates = lrscape.logspace(0.01, 0.2, 12)
    for name in ("rugged-quadratic", "rosenbrock"):
        landscape = lrscape.landscapes.get(name)
        lrs = rates if name == "rugged-quadratic" else rates / 200
        ds = lrscape.sweep(landscape, "sgd", {"learning_rate": lrs}, steps=600, dtype=dtype,
                           progress=False)
        assert not np.any(ds.regime.values == Regime.RINGING), name


def test_a_zigzag_after_a_rate_switch_is_a_zigzag():
    # eta*lambda = 0.5 for 50 steps (smooth), then 1.8: the approach ends in a zig-zag.
    schedule = lrscape.schedules.PiecewiseConstant(boundaries=[50], multipliers=[1.0, 3.6])
    ds = lrscape.sweep(lrscape.landscapes.get("quadratic"), "sgd", {"learning_rate": [0.5]},
                       schedule=schedule, progress=False)
    assert ds.regime.item() == Regime.OSCILLATORY


def test_gradient_descent_on_a_rotated_spectrum_changes_label_once_along_the_rate():
    # eigenvalues 1, 0.3, 0.01, rotated: smooth below eta*lambda_max = 1, then zig-zag (the
    # steep direction's) up to divergence at 2, in one band; no MONOTONE island inside it.
    quadratic = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 0.3, 0.01],
                                       rotation_seed=2)
    etas = lrscape.linspace(0.5, 1.98, 60)
    ds = lrscape.sweep(quadratic, "sgd", {"learning_rate": etas}, progress=False)
    regime = ds.regime.values
    assert np.all(regime[etas < 0.98] == Regime.MONOTONE)
    zigzag = regime == Regime.OSCILLATORY
    first = np.argmax(zigzag)
    assert zigzag.any() and np.all(zigzag[first:]) and etas[first] < 1.35
