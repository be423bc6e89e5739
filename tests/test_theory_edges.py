"""The sweep's own output against closed-form theory.

Each test runs a grid through :func:`lrscape.sweep` and compares where the regime labels change
with the analytic edge from :mod:`lrscape.theory`. Near an edge, a finite run is ambiguous (at
eta*lambda = 2.005, gradient descent grows by only 1.005 per step), so the tests exclude a band
of one to two percent around each edge and require the labels on both sides to be right.
"""

import numpy as np
import pytest

import lrscape
from lrscape import Regime, theory


def quadratic(curvature=1.0):
    return lrscape.landscapes.get("quadratic", eigenvalues=[curvature])


@pytest.mark.parametrize("curvature", [1.0, 25.0])
def test_gradient_descent_edges_on_a_quadratic(curvature):
    eta_lambda = lrscape.linspace(0.02, 3.0, 150)
    ds = lrscape.sweep(quadratic(curvature), "sgd",
                       {"learning_rate": eta_lambda / curvature}, steps=1000, progress=False)
    regime = ds.regime.values
    below_one = eta_lambda < theory.gd_oscillation_edge() - 0.01
    between = (eta_lambda > theory.gd_oscillation_edge() + 0.01) & (
        eta_lambda < theory.gd_edge() - 0.02)
    above_two = eta_lambda > theory.gd_edge() + 0.02
    assert np.all(regime[below_one] == Regime.MONOTONE)
    assert np.all(regime[between] == Regime.OSCILLATORY)
    assert np.all(regime[above_two] == Regime.DIVERGED)
    assert np.all(ds.converged.values[below_one | between])


def test_gradient_descent_on_a_quadratic_contracts_by_one_minus_eta_lambda():
    curvature, steps = 4.0, 30
    lrs = np.array([0.05, 0.2, 0.3, 0.45])  # eta * lambda = 0.2, 0.8, 1.2, 1.8
    ds = lrscape.sweep(quadratic(curvature), "sgd", {"learning_rate": lrs}, steps=steps,
                       record_every=10, dtype="float64", progress=False)
    factor = theory.gd_quadratic_factor(lrs, curvature)
    np.testing.assert_allclose(ds.final_loss.values,
                               ds.initial_loss.values * factor ** (2 * steps), rtol=1e-9)


def test_gradient_descent_oscillation_edge_is_sharp_at_one():
    eta_lambda = np.array([0.98, 0.995, 1.005, 1.02])
    ds = lrscape.sweep(quadratic(), "sgd", {"learning_rate": eta_lambda}, steps=200,
                       progress=False)
    assert list(ds.regime.values) == [Regime.MONOTONE] * 2 + [Regime.OSCILLATORY] * 2


def test_at_exactly_two_gradient_descent_is_a_symmetric_two_cycle():
    # x -> -x: the loss is constant, only the iterate reveals the cycle.
    ds = lrscape.sweep(quadratic(), "sgd", {"learning_rate": [2.0]}, steps=500, progress=False)
    assert ds.regime.item() == Regime.PERIODIC
    assert ds.period.item() == 2


def test_a_short_run_still_growing_at_its_end_is_diverged():
    """Gradient descent's loss at eta*lambda = 1 + r is L0 r^(2t). Over 40 steps it passes the
    divergence limit 10^6 L0 only from r = 10^(6/80), eta*lambda = 2.19; below that the run is
    DIVERGED because it ends above its start with the last quarter's largest loss (step 39)
    at least twice the third quarter's (step 29): r^20 >= 2, eta*lambda >= 1 + 2^(1/20)."""
    steps = 40
    growing_edge, limit_edge = 1 + 2 ** (2 / steps), 1 + 1e6 ** (1 / (2 * steps))
    eta_lambda = np.concatenate([lrscape.linspace(1.9, 1.99, 4), [2.0],
                                 lrscape.linspace(2.003, 2.3, 100)])
    ds = lrscape.sweep(quadratic(), "sgd", {"learning_rate": eta_lambda}, steps=steps,
                       dtype="float64", progress=False)
    regime, passed = ds.regime.values, ds.divergence_step.values >= 0
    assert np.all(regime[eta_lambda < 2] == Regime.OSCILLATORY)
    assert regime[eta_lambda == 2] == Regime.PERIODIC
    slow = (eta_lambda > 2) & (eta_lambda < growing_edge * 0.999)
    assert slow.sum() > 3 and np.all(regime[slow] == Regime.OSCILLATORY)
    growing = (eta_lambda > growing_edge * 1.001) & (eta_lambda < limit_edge * 0.999)
    assert growing.sum() > 40
    assert np.all(regime[growing] == Regime.DIVERGED) and not passed[growing].any()
    assert np.all(np.isfinite(ds.final_loss.values[growing]))
    beyond = eta_lambda > limit_edge * 1.001
    assert np.all(regime[beyond] == Regime.DIVERGED) and passed[beyond].all()
    # The rule is a threshold like the others: relabelled without re-running.
    lenient = lrscape.reclassify(ds, growing_change=1e9)
    assert np.all(lenient.regime.values[growing] == Regime.OSCILLATORY)
    assert np.all(lenient.regime.values[beyond] == Regime.DIVERGED)
    np.testing.assert_array_equal(lrscape.reclassify(ds).regime.values, regime)


@pytest.mark.parametrize(
    ("optimizer", "edge", "top"),
    [("momentum", theory.heavy_ball_edge, 4.2), ("nesterov", theory.nesterov_edge, 2.5)],
)
def test_momentum_methods_diverge_at_their_edges_across_momenta(optimizer, edge, top):
    # heavy ball: eta*lambda = 2(1+beta); Nesterov: (2+2beta)/(1+2beta)
    betas = lrscape.linspace(0.0, 0.9, 10)
    eta_lambda = np.arange(0.5, top + 1e-9, 0.01)
    ds = lrscape.sweep(quadratic(), optimizer, {"momentum": betas, "learning_rate": eta_lambda},
                       steps=2000, progress=False)
    diverged = ds.regime.values == Regime.DIVERGED
    for i, beta in enumerate(betas):
        assert not diverged[i][eta_lambda < edge(beta) * 0.99].any(), f"beta={beta}"
        assert diverged[i][eta_lambda > edge(beta) * 1.01].all(), f"beta={beta}"


@pytest.mark.parametrize(
    ("optimizer", "ringing_edge", "edge", "divergence_edge"),
    [("momentum", theory.heavy_ball_ringing_edge, theory.heavy_ball_oscillation_edge,
      theory.heavy_ball_edge),
     ("nesterov", theory.nesterov_ringing_edge, theory.nesterov_oscillation_edge,
      theory.nesterov_edge)],
)
def test_momentum_methods_are_smooth_then_ring_then_zigzag_at_their_closed_form_edges(
        optimizer, ringing_edge, edge, divergence_edge):
    # Real roots (overdamped): MONOTONE. Complex roots turning by less than a quarter turn
    # per step: RINGING, from critical damping (heavy ball (1 - sqrt(beta))^2, Nesterov
    # ((1 - beta)/(1 + beta))^2) up to the edge where the second step reverses the first
    # (heavy ball 1 + beta, Nesterov (1 + beta + beta^2) / (1 + beta)^2). Above: OSCILLATORY
    # up to the divergence edge. Until lrscape 0.3 the ringing band was MONOTONE.
    betas = lrscape.linspace(0.0, 0.9, 10)
    eta_lambda = lrscape.logspace(0.002, 4.0, 200)
    ds = lrscape.sweep(quadratic(), optimizer, {"momentum": betas, "learning_rate": eta_lambda},
                       steps=1000, progress=False)
    for i, beta in enumerate(betas):
        regime = ds.regime.values[i]
        low, at, top = float(ringing_edge(beta)), float(edge(beta)), float(divergence_edge(beta))
        assert np.all(regime[eta_lambda < low * 0.98] == Regime.MONOTONE), f"beta={beta}"
        ringing = (eta_lambda > low * 1.05) & (eta_lambda < at * 0.99)
        assert np.all(regime[ringing] == Regime.RINGING), f"beta={beta}"
        bouncing = (eta_lambda > at * 1.03) & (eta_lambda < 0.99 * top)
        assert np.all(regime[bouncing] == Regime.OSCILLATORY), f"beta={beta}"


def valley_gradient_descent(eta_kappa: np.ndarray, steps: int, kappa: float = 100.0):
    """Gradient descent on the narrow valley at the rates eta = eta_kappa / kappa."""
    valley = lrscape.landscapes.get("narrow-valley", wall_curvature=kappa)
    return lrscape.sweep(valley, "sgd", {"learning_rate": eta_kappa / kappa}, steps=steps,
                         progress=False)


def test_oscillatory_band_of_the_valley_starts_at_the_walls_oscillation_edge():
    # Gradient descent bounces from wall to wall once eta * kappa > 1, while the floor is
    # descended in many short steps that keep their direction.
    eta_kappa = np.arange(0.9, 1.1, 0.01)
    regime = valley_gradient_descent(eta_kappa, steps=1000).regime.values
    assert np.all(regime[eta_kappa < 0.995] == Regime.MONOTONE)
    assert np.all(regime[eta_kappa > 1.015] == Regime.OSCILLATORY)


def test_an_early_bounce_then_a_slow_slide_is_not_chaos():
    # Just above eta * kappa = 1 the walls' bounce dies within a few steps ((eta kappa - 1)^t),
    # then the iterate slides down the floor by ~eta s^2 of loss per step: in 300 steps the
    # late loss envelope changes by under 1%, "steady". The reversals are all early, so the
    # run is OSCILLATORY (bounced while descending), not CHAOTIC (was, for eta kappa < 1.11).
    ds = valley_gradient_descent(np.linspace(1.02, 1.2, 10), steps=300)
    assert np.all(ds.regime.values == Regime.OSCILLATORY)
    assert np.all(np.abs(ds.late_change.values) < 0.012)  # as steady as chaos would be
    assert np.all(ds.oscillation.values > 0.98)
    assert np.all(ds.late_oscillation.values == 0.0)  # the late half never reverses


def test_edge_follows_the_landscape_curvature_when_it_is_an_axis():
    # Sweeping the valley's wall curvature: gradient descent diverges at eta * kappa = 2.
    kappas = np.array([10.0, 40.0, 160.0])
    lrs = lrscape.logspace(1e-3, 1.0, 241)
    valley = lrscape.landscapes.get("narrow-valley")
    ds = lrscape.sweep(valley, "sgd", {"wall_curvature": kappas, "learning_rate": lrs},
                       steps=1000, progress=False)
    for i, kappa in enumerate(kappas):
        diverged = ds.regime.values[i] == Regime.DIVERGED
        eta_kappa = lrs * kappa
        assert not diverged[eta_kappa < 1.98].any()
        assert diverged[eta_kappa > 2.02].all()


def test_heavy_ball_spectral_radius_predicts_convergence_speed():
    # The loss decays like rho^(2t); real roots here, so the decay is not modulated.
    eta, beta, steps = 0.1, 0.3, 100
    rho = float(theory.heavy_ball_spectral_radius(eta, 1.0, beta))
    ds = lrscape.sweep(quadratic(), lrscape.optimizers.get("momentum", momentum=beta),
                       {"learning_rate": [eta]}, steps=steps, record_every=1,
                       dtype="float64", progress=False)
    losses = ds.loss_last.values[0]
    measured = (losses[-1] / losses[-51]) ** (1 / 50)  # per-step factor of the loss
    assert measured == pytest.approx(rho**2, rel=0.01)


@pytest.mark.parametrize(
    ("eta", "regime", "period"),
    [
        (0.5, Regime.MONOTONE, 1),
        (0.95, Regime.OSCILLATORY, 1),  # eta * f''(1) = 1.9: zig-zag into the minimum
        (1.1, Regime.PERIODIC, 2),
        (1.25, Regime.PERIODIC, 4),
        (1.295, Regime.PERIODIC, 8),
        (1.4, Regime.CHAOTIC, 0),
        (1.6, Regime.CHAOTIC, 0),
        (2.05, Regime.DIVERGED, 0),
        (2.5, Regime.DIVERGED, 0),
    ],
)
def test_double_well_period_doubling_route_to_chaos(eta, regime, period):
    ds = lrscape.sweep(lrscape.landscapes.get("double-well", start=0.5), "sgd",
                       {"learning_rate": [eta]}, steps=2000, progress=False)
    assert Regime(ds.regime.item()) == regime
    assert ds.period.item() == period
    if regime == Regime.CHAOTIC:  # chaos reverses to the end
        assert ds.late_oscillation.item() >= 0.5


def test_double_well_first_doubling_is_at_one():
    etas = np.array([0.97, 0.99, 1.01, 1.03])
    ds = lrscape.sweep(lrscape.landscapes.get("double-well"), "sgd", {"learning_rate": etas},
                       steps=4000, progress=False)
    assert list(ds.period.values) == [1, 1, 2, 2]


def frozen_preconditioner_adam(learning_rate, b1=0.9, preconditioner=4.0):
    """Adam's update with its second-moment preconditioner P held fixed:
    m <- b1 m + (1 - b1) g;  x <- x - lr * m / P  (no bias correction: the edge is asymptotic).
    """
    import optax

    return optax.chain(optax.ema(b1, debias=False), optax.scale(-learning_rate / preconditioner))


@pytest.mark.parametrize("b1", [0.0, 0.5, 0.9])
def test_adam_with_a_frozen_preconditioner_diverges_at_its_edge(b1):
    # The edge is on the preconditioned sharpness: eta * lambda / P = 2 (1 + b1) / (1 - b1).
    precond, curvature = 4.0, 3.0
    edge_lr = float(theory.adam_edge(b1)) * precond / curvature
    factors = np.linspace(0.5, 1.5, 101)
    opt = lrscape.optimizers.get(frozen_preconditioner_adam, b1=b1, preconditioner=precond)
    ds = lrscape.sweep(quadratic(curvature), opt, {"learning_rate": factors * edge_lr},
                       steps=3000, progress=False)
    diverged = ds.regime.values == Regime.DIVERGED
    assert not diverged[factors < 0.99].any()
    assert diverged[factors > 1.01].all()


def test_double_well_doublings_are_the_closed_forms_and_feigenbaum_spaced():
    rates = np.array(theory.double_well_doublings(8))
    np.testing.assert_allclose(rates[:2], [1.0, np.sqrt(5.0) - 1.0], rtol=1e-12)
    gaps = np.diff(rates)
    np.testing.assert_allclose(gaps[-2] / gaps[-1], 4.669201609, rtol=1e-3)  # Feigenbaum


def test_the_simulated_period_doubles_at_each_computed_doubling():
    """Between the computed doublings the simulator's period is 2, 4, 8: the closed form and
    the sweep agree (the midpoints sit far from both edges, where transients are short)."""
    rates = theory.double_well_doublings(4)
    mid = [(a + b) / 2 for a, b in zip(rates[:-1], rates[1:], strict=True)]
    ds = lrscape.sweep(lrscape.landscapes.get("double-well", start=0.5), "sgd",
                       {"learning_rate": mid}, steps=4000, dtype="float64",
                       thresholds={"max_period": 16}, progress=False)
    assert list(ds.period.values) == [2, 4, 8]
