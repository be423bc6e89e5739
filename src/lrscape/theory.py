r"""Closed-form predictions, for tests and for figure overlays.

All edges are for a quadratic of curvature :math:`\lambda` (the largest Hessian eigenvalue, or
the eigenvalue of the direction considered), as products :math:`\eta\lambda`: divide by
:math:`\lambda` for a learning rate, or call :func:`critical_learning_rate`.

An optimizer declares the edges that apply to it as an :class:`Edges`
(:attr:`lrscape.optimizers.Optimizer.edges`), a landscape the curvature they use
(:meth:`lrscape.landscapes.Landscape.edge_curvature`); the figures draw what the two declare.
This module imports nothing of lrscape's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

ArrayLike = Any


@dataclasses.dataclass(frozen=True)
class Edge:
    r"""One closed-form edge: beyond :math:`\eta\lambda = e(\beta)` something happens.

    Attributes:
        what: what happens beyond it, as a legend says it (``"diverges"``).
        function: :math:`e(\beta)`, the edge as a function of the momentum :math:`\beta`
            (an array in, an array out; one that does not depend on it ignores it), e.g.
            :func:`heavy_ball_edge`. A module-level function, so the optimizer pickles.
        formula: :math:`e(\beta)` written out for a legend, e.g. ``"2(1+β)"``.
    """

    what: str
    function: Callable[[ArrayLike], ArrayLike]
    formula: str


@dataclasses.dataclass(frozen=True)
class Edges:
    r"""An optimizer's closed-form edges on a quadratic of curvature :math:`\lambda`, as
    functions of its momentum :math:`\beta` (its ``momentum`` hyperparameter, 0 without one).

    Attributes:
        name: the method's name in a legend (``"heavy ball"``).
        diverges: where it diverges, e.g. :math:`\eta\lambda = 2(1+\beta)`
            (:func:`heavy_ball_edge`).
        bounces: where its steps along the steepest direction start to reverse, the
            MONOTONE / OSCILLATORY boundary of noiseless runs, e.g. :math:`1+\beta`
            (:func:`heavy_ball_oscillation_edge`).
        noisy_bounces: where that boundary lies on noisy runs, where the step correlation at
            the noise floor reaches :math:`-1/2`, e.g. :math:`1+2\beta`
            (:func:`heavy_ball_noisy_oscillation_edge`); ``None``: not known, not drawn.
        rings: where the roots turn complex (critical damping), the MONOTONE / RINGING
            boundary of noiseless runs, e.g. :math:`(1-\sqrt\beta)^2`
            (:func:`heavy_ball_ringing_edge`); ``None`` for a method without momentum.
    """

    name: str
    diverges: Edge
    bounces: Edge
    noisy_bounces: Edge | None = None
    rings: Edge | None = None

    def drawn(self, noisy: bool = False) -> tuple[Edge, ...]:
        """The edges that apply to noiseless runs (``noisy=False``) or to noisy ones, divergence
        first: noise leaves the divergence edge in place and moves the bounce edge."""
        if not noisy:
            return (self.diverges, self.bounces, *(() if self.rings is None else (self.rings,)))
        return (self.diverges, *(() if self.noisy_bounces is None else (self.noisy_bounces,)))


def gd_oscillation_edge() -> float:
    r"""Gradient descent starts to reverse direction each step beyond :math:`\eta\lambda = 1`.

    The iteration :math:`x \mapsto (1 - \eta\lambda)\,x` flips sign when :math:`\eta\lambda > 1`.
    """
    return 1.0


def heavy_ball_oscillation_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Heavy-ball momentum started at rest reverses its first step beyond
    :math:`\eta\lambda = 1 + \beta`.

    With :math:`v \leftarrow g + \beta v,\ x \leftarrow x - \eta v` and :math:`v = 0` at the
    start, the steps obey :math:`\Delta x_{t+1} = (1 + \beta - \eta\lambda)\,\Delta x_t -
    \beta\,\Delta x_{t-1}` with :math:`\Delta x_{-1} = 0`, so the second step is
    :math:`(1 + \beta - \eta\lambda)` times the first. At the same value the roots
    :math:`\sqrt\beta\, e^{\pm i\theta}` of :math:`z^2 - (1 + \beta - \eta\lambda) z + \beta`
    turn by a quarter turn per step (:math:`\cos\theta = (1 + \beta - \eta\lambda) /
    2\sqrt\beta`), beyond which successive steps of the damped spiral mostly reverse. On a
    quadratic of one curvature, or a valley whose floor is much flatter than its walls, the
    regime classifier's OSCILLATORY label starts here (:mod:`lrscape.regimes`, rule 5); for
    :math:`\beta = 0` it is :func:`gd_oscillation_edge`.
    """
    beta = np.asarray(momentum, dtype=float)
    return 1.0 + beta


def nesterov_oscillation_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Nesterov momentum started at rest reverses its first step beyond
    :math:`\eta\lambda = (1 + \beta + \beta^2) / (1 + \beta)^2`.

    In optax's form (:func:`nesterov_edge`) with :math:`v = 0` at the start, the first step is
    :math:`\Delta x_0 = -\eta(1 + \beta)\lambda x_0` and the second is
    :math:`\Delta x_1 = \Delta x_0\,[(1 + \beta + \beta^2) - (1 + \beta)^2 \eta\lambda] /
    (1 + \beta)`. Nesterov's iteration is strongly damped (the product of its roots is
    :math:`\beta(1 - \eta\lambda)`), so this first pair of steps outweighs all later ones and,
    on a quadratic of one curvature, sets where the regime classifier's OSCILLATORY label
    starts (within 2% up to :math:`\beta = 0.9`; the later steps move it up a little): well
    below :math:`\eta\lambda = 1` when :math:`\beta` is large (0.75 at :math:`\beta = 0.9`).
    For :math:`\beta = 0` it is :func:`gd_oscillation_edge`.
    """
    beta = np.asarray(momentum, dtype=float)
    return (1.0 + beta + beta * beta) / (1.0 + beta) ** 2


def noisy_step_correlation(
    eta_lambda: ArrayLike, momentum: ArrayLike = 0.0, *, nesterov: bool = False
) -> ArrayLike:
    r"""The correlation of successive steps at the noise floor of a quadratic of curvature
    :math:`\lambda`, for heavy ball (gradient descent when :math:`\beta = 0`) or Nesterov.

    Heavy ball: :math:`\rho = \beta - \eta\lambda/2`. With :math:`\Delta x_t = \beta\,
    \Delta x_{t-1} - \eta(\lambda x_t + \xi_t)` and noise :math:`\xi_t` independent of the
    past, stationarity of :math:`\operatorname{Var} x_t` gives :math:`\operatorname{Cov}(x_{t-1},
    \Delta x_{t-1}) = -\operatorname{Var}\Delta x / 2`, so :math:`\operatorname{Cov}(x_t,
    \Delta x_{t-1}) = \operatorname{Var}\Delta x / 2` and :math:`\operatorname{Cov}(\Delta x_t,
    \Delta x_{t-1}) = (\beta - \eta\lambda/2) \operatorname{Var}\Delta x`.

    Nesterov (optax's form, :math:`\Delta x_t = -\eta((1 + \beta) g_t + \beta^2 v_t)`,
    :math:`v_{t+1} = g_t + \beta v_t`): with :math:`h = \eta\lambda`, the stationary covariance
    of :math:`(x, v)` (a 2-by-2 discrete Lyapunov equation) gives

    .. math::

        \rho = \frac{-\beta(1+\beta)^2(1+2\beta)\,h^2
                      + (4\beta^4 + 3\beta^3 - 2\beta^2 - 3\beta - 1)\,h
                      + 2\beta^2(1 + \beta - \beta^2)}
                     {2\,(1 + 2\beta - 2\beta^3 + \beta(1+\beta)(1+2\beta)\,h)},

    which is :math:`-h/2` at :math:`\beta = 0`. Both hold for any noise that is independent
    from step to step, whatever its size or distribution, below the divergence edge. This is
    the ``step_correlation`` by which noisy runs are labelled (:mod:`lrscape.regimes`).
    """
    h = np.asarray(eta_lambda, dtype=float)
    beta = np.asarray(momentum, dtype=float)
    if not nesterov:
        return beta - h / 2.0
    numerator, denominator = _nesterov_noisy_terms(h, beta)
    return numerator / denominator


def _nesterov_noisy_terms(h: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of Nesterov's stationary step correlation (see above)."""
    b2 = beta * beta
    wide = beta * (1.0 + beta) * (1.0 + 2.0 * beta)
    numerator = (-(1.0 + beta) * wide * h * h
                 + (4.0 * b2 * b2 + 3.0 * b2 * beta - 2.0 * b2 - 3.0 * beta - 1.0) * h
                 + 2.0 * b2 * (1.0 + beta - b2))
    denominator = 2.0 * (1.0 + 2.0 * beta - 2.0 * b2 * beta + wide * h)
    return numerator, denominator


def heavy_ball_noisy_oscillation_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Where heavy ball's steps at a quadratic's noise floor start to count as bouncing:
    :math:`\eta\lambda = 1 + 2\beta`, where :func:`noisy_step_correlation` reaches the
    classifier's :math:`-1/2` (``Thresholds.noisy_correlation``).

    For gradient descent (:math:`\beta = 0`) it is the noiseless edge
    :func:`gd_oscillation_edge`; with momentum it lies beyond the noiseless
    :func:`heavy_ball_oscillation_edge` :math:`1 + \beta` (below the divergence edge
    :math:`2(1 + \beta)`): without noise the label is set by how a run started at rest
    reverses its first steps, with noise by the stationary fluctuation.
    """
    return 1.0 + 2.0 * np.asarray(momentum, dtype=float)


def nesterov_noisy_oscillation_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Where Nesterov's steps at a quadratic's noise floor start to count as bouncing: the
    :math:`h = \eta\lambda` at which :func:`noisy_step_correlation` (``nesterov=True``) is
    :math:`-1/2`, the root in :math:`(0, 2(1+\beta)/(1+2\beta))` of

    .. math::

        \beta(1+\beta)^2(1+2\beta)\,h^2 - (4\beta^4 + 5\beta^3 + \beta^2 - 2\beta - 1)\,h
        - (1 + 2\beta + 2\beta^2 - 2\beta^4) = 0 .

    It is 1 at :math:`\beta = 0` and stays between 0.85 and 1 for every :math:`\beta`
    (0.851 at :math:`\beta = 0.5`, 0.865 at 0.9): unlike heavy ball's :math:`1 + 2\beta`,
    Nesterov's look-ahead damps the fluctuation's own bounce, so with noise it reads as
    bouncing from about the same rate as gradient descent, a little above its noiseless
    :func:`nesterov_oscillation_edge`.
    """
    beta = np.asarray(momentum, dtype=float)
    a = beta * (1.0 + beta) ** 2 * (1.0 + 2.0 * beta)
    b = -(4.0 * beta**4 + 5.0 * beta**3 + beta**2 - 2.0 * beta - 1.0)
    c = -(1.0 + 2.0 * beta + 2.0 * beta**2 - 2.0 * beta**4)
    # the positive root of a h^2 + b h + c = 0 (a >= 0 > c), written to stay exact at a = 0
    return -2.0 * c / (b + np.sqrt(b * b - 4.0 * a * c))


def gd_edge() -> float:
    r"""Gradient descent diverges beyond :math:`\eta\lambda = 2` (:math:`|1 - \eta\lambda| > 1`)."""
    return 2.0


def heavy_ball_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Heavy-ball momentum diverges beyond :math:`\eta\lambda = 2(1 + \beta)`.

    For :math:`v \leftarrow g + \beta v,\ x \leftarrow x - \eta v` (optax's ``sgd`` with
    ``momentum``), the characteristic polynomial :math:`z^2 - (1 + \beta - \eta\lambda) z +
    \beta` has a root at :math:`z = -1` exactly when :math:`\eta\lambda = 2(1 + \beta)`.
    """
    beta = np.asarray(momentum, dtype=float)
    return 2.0 * (1.0 + beta)


def nesterov_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Nesterov momentum diverges beyond :math:`\eta\lambda = (2 + 2\beta)/(1 + 2\beta)`.

    For optax's form :math:`v \leftarrow g + \beta v,\ x \leftarrow x - \eta(g + \beta v)`, the
    characteristic polynomial :math:`z^2 - (1 + \beta)(1 - \eta\lambda) z + \beta(1 -
    \eta\lambda)` has the root :math:`z = -1` at that value.
    """
    beta = np.asarray(momentum, dtype=float)
    return (2.0 + 2.0 * beta) / (1.0 + 2.0 * beta)


def adam_edge(b1: ArrayLike) -> ArrayLike:
    r"""Frozen-preconditioner Adam diverges at :math:`\eta\lambda/P = 2(1+\beta_1)/(1-\beta_1)`.

    With the second-moment preconditioner :math:`P = \sqrt{\hat v} + \epsilon` frozen, Adam's
    update is heavy-ball momentum in exponential-moving-average form with effective rate
    :math:`\eta(1 - \beta_1)/P`; here :math:`\lambda` is the curvature and the edge is on the
    *preconditioned* sharpness :math:`\eta\lambda/P` (Cohen et al., "Adaptive gradient methods
    at the edge of stability", 2022).
    """
    b1 = np.asarray(b1, dtype=float)
    return (2.0 + 2.0 * b1) / (1.0 - b1)


def critical_learning_rate(edge: ArrayLike, curvature: ArrayLike) -> ArrayLike:
    r"""The learning rate :math:`\eta = \text{edge} / \lambda` at which an edge is crossed."""
    return np.asarray(edge, dtype=float) / np.asarray(curvature, dtype=float)


def gd_quadratic_factor(learning_rate: ArrayLike, curvature: ArrayLike) -> ArrayLike:
    r"""The per-step contraction :math:`1 - \eta\lambda` of gradient descent on a quadratic."""
    return 1.0 - np.asarray(learning_rate, dtype=float) * np.asarray(curvature, dtype=float)


def heavy_ball_spectral_radius(
    learning_rate: ArrayLike, curvature: ArrayLike, momentum: ArrayLike
) -> ArrayLike:
    r"""Spectral radius of heavy-ball momentum on a quadratic: the largest :math:`|z|` solving

    .. math:: z^2 - (1 + \beta - \eta\lambda)\, z + \beta = 0.

    Below 1 the iteration converges; the edge :func:`heavy_ball_edge` is where it reaches 1.
    """
    eta, lam, beta = np.broadcast_arrays(
        np.asarray(learning_rate, float), np.asarray(curvature, float),
        np.asarray(momentum, float),
    )
    b = 1.0 + beta - eta * lam
    disc = np.sqrt((b * b - 4.0 * beta).astype(complex))
    roots = np.stack([(b + disc) / 2.0, (b - disc) / 2.0])
    return np.max(np.abs(roots), axis=0)


# -- the noisy quadratic model ------------------------------------------------------------


def _nqm_inputs(eigenvalues: ArrayLike, batch_size: float, momentum: float) -> np.ndarray:
    h = np.asarray(eigenvalues, dtype=float).reshape(-1)
    if h.size == 0 or np.any(~np.isfinite(h)) or np.any(h <= 0):
        raise ValueError(f"`eigenvalues` must be finite and > 0, got {eigenvalues!r}")
    if not (np.isfinite(batch_size) and batch_size > 0):
        raise ValueError(f"`batch_size` must be finite and > 0, got {batch_size!r}")
    if not 0 <= momentum < 1:
        raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}")
    return h


def nqm_expected_loss(
    eigenvalues: ArrayLike,
    learning_rate: ArrayLike,
    batch_size: float,
    steps: int,
    *,
    start: float = 1.0,
    momentum: float = 0.0,
) -> np.ndarray:
    r"""The noisy quadratic model's expected loss :math:`\mathbb E[L(x_t)]` for ``t = 0..steps``.

    SGD with heavy-ball momentum :math:`\beta` (optax's ``sgd(momentum=beta)``:
    :math:`m^+ = \beta m + g`, :math:`x^+ = x - \eta_t m^+`) on
    :class:`~lrscape.landscapes.NoisyQuadratic`, whose gradient is :math:`h_i x_i + \xi_i` with
    :math:`\operatorname{Var}\xi_i = h_i / B`. Per dimension, :math:`z = (x, m)` evolves as
    :math:`z^+ = A z - c\,\xi` with :math:`A = \begin{pmatrix}1-\eta h & -\eta\beta \\ h & \beta
    \end{pmatrix}`, :math:`c = (\eta, -1)`, so its second moments follow exactly

    .. math::

        S^+ = A S A^\top + \frac{h}{B}\, c\, c^\top, \qquad
        \mathbb E[L] = \tfrac12 \sum_i h_i S_{i,xx};

    with :math:`\beta = 0` this is :math:`s^+ = (1 - \eta h)^2 s + \eta^2 h / B`.

    Args:
        eigenvalues: the curvatures :math:`h_i > 0`.
        learning_rate: a scalar, or one rate per update (length ``steps``), e.g. a schedule.
        batch_size: :math:`B > 0`.
        steps: the number of updates.
        start: every coordinate's starting value.
        momentum: :math:`\beta \in [0, 1)`.

    >>> loss = nqm_expected_loss([1.0], 0.5, 1.0, 200)
    >>> round(float(loss[-1]), 6) == round(nqm_steady_state_loss([1.0], 0.5, 1.0), 6)
    True
    """
    h = _nqm_inputs(eigenvalues, batch_size, momentum)
    rates = np.broadcast_to(np.asarray(learning_rate, dtype=float), (steps,))
    xx = np.full_like(h, float(start) ** 2)
    xm = np.zeros_like(h)
    mm = np.zeros_like(h)
    noise = h / batch_size
    beta = float(momentum)
    out = np.empty(steps + 1)
    out[0] = 0.5 * np.sum(h * xx)
    for t, eta in enumerate(rates):
        a11, a12, a21, a22 = 1 - eta * h, -eta * beta, h, beta
        c1, c2 = eta, -1.0
        new_xx = a11 * a11 * xx + 2 * a11 * a12 * xm + a12 * a12 * mm + noise * c1 * c1
        new_xm = (a11 * a21 * xx + (a11 * a22 + a12 * a21) * xm + a12 * a22 * mm
                  + noise * c1 * c2)
        new_mm = a21 * a21 * xx + 2 * a21 * a22 * xm + a22 * a22 * mm + noise * c2 * c2
        xx, xm, mm = new_xx, new_xm, new_mm
        out[t + 1] = 0.5 * np.sum(h * xx)
    return out


def nqm_steady_state_loss(
    eigenvalues: ArrayLike, learning_rate: float, batch_size: float, momentum: float = 0.0
) -> float:
    r"""The noisy quadratic model's expected loss once SGD has settled (constant rate).

    .. math::

        \mathbb E[L_\infty] = \sum_i \frac{(1+\beta)\,\eta h_i}
        {2B\,(1-\beta)\,(2 + 2\beta - \eta h_i)},

    the stationary variance of the AR(2) process
    :math:`x_{t+1} = (1+\beta-\eta h)\,x_t - \beta x_{t-1} - \eta\xi_t`; with :math:`\beta = 0`,
    :math:`\sum_i \eta h_i / (2B(2 - \eta h_i))`. Infinite beyond the stability edge
    :math:`\eta h_i \ge 2(1+\beta)`.
    """
    h = _nqm_inputs(eigenvalues, batch_size, momentum)
    beta = float(momentum)
    eta_h = float(learning_rate) * h
    if np.any(eta_h >= 2 * (1 + beta)):
        return float("inf")
    return float(np.sum((1 + beta) * eta_h
                        / (2 * batch_size * (1 - beta) * (2 + 2 * beta - eta_h))))


def heavy_ball_ringing_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Where heavy-ball momentum starts to ring on a quadratic: :math:`\eta\lambda =
    (1 - \sqrt\beta)^2`.

    The roots of :math:`z^2 - (1 + \beta - \eta\lambda) z + \beta` are complex, of modulus
    :math:`\sqrt\beta`, for :math:`(1 - \sqrt\beta)^2 < \eta\lambda < (1 + \sqrt\beta)^2`:
    the iterate then overshoots the minimum and swings back, turning by
    :math:`\theta = \arccos\frac{1 + \beta - \eta\lambda}{2\sqrt\beta}` per step (critical
    damping at the lower end). Below a quarter turn (:func:`heavy_ball_oscillation_edge`) that
    is RINGING, above it OSCILLATORY.
    """
    return (1.0 - np.sqrt(np.asarray(momentum, dtype=float))) ** 2


def nesterov_ringing_edge(momentum: ArrayLike) -> ArrayLike:
    r"""Where Nesterov momentum starts to ring on a quadratic: :math:`\eta\lambda =
    \left(\frac{1 - \beta}{1 + \beta}\right)^2`.

    With :math:`h = \eta\lambda`, the roots of :math:`z^2 - (1 + \beta)(1 - h) z +
    \beta (1 - h)` are complex for :math:`\left(\frac{1-\beta}{1+\beta}\right)^2 < h < 1`.
    """
    beta = np.asarray(momentum, dtype=float)
    return ((1.0 - beta) / (1.0 + beta)) ** 2


def double_well_doublings(count: int = 4) -> tuple[float, ...]:
    r"""The learning rates at which gradient descent on the double well doubles its period.

    Gradient descent on :math:`f(x) = (x^2 - 1)^2 / 4` is the map
    :math:`F(x) = x - \eta\, x (x^2 - 1)`. Its period-:math:`2^k` orbit loses stability, and
    a period-:math:`2^{k+1}` orbit is born, where the orbit's multiplier
    :math:`\prod_{t} F'(x_t) = \prod_t \left(1 - \eta (3 x_t^2 - 1)\right)` reaches
    :math:`-1`. For :math:`k = 0` that is :math:`\eta = 1` (:math:`\eta f''(1) = 2`), for
    :math:`k = 1` it is :math:`\eta = \sqrt 5 - 1 = 1.2360680`; beyond, the two equations
    :math:`F^{2^k}(x) = x` and :math:`(F^{2^k})'(x) = -1` are solved for :math:`(x, \eta)`
    (:func:`scipy.optimize.root`), each from the stable orbit just past the previous doubling
    and a guess spaced by Feigenbaum's constant: 1, 1.2360680, 1.2880318, 1.2992279,
    1.3016289, ..., accumulating at about 1.3023.

    >>> [round(eta, 7) for eta in double_well_doublings(4)]
    [1.0, 1.236068, 1.2880318, 1.2992279]
    """
    from scipy import optimize

    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 8:
        raise ValueError(f"`count` must be an integer in [1, 8], got {count!r}")
    rates = [1.0]
    while len(rates) < count:
        period = 2 ** len(rates)
        gap = 0.2 if len(rates) == 1 else (rates[-1] - rates[-2]) / _FEIGENBAUM
        x = 0.5
        for _ in range(20_000):  # onto the stable orbit of this period
            x = x - (rates[-1] + 0.5 * gap) * x * (x * x - 1.0)

        def equations(v: np.ndarray, period: int = period) -> list[float]:
            end, multiplier = _double_well_orbit(v[0], v[1], period)
            return [end - v[0], multiplier + 1.0]

        solution = optimize.root(equations, [x, rates[-1] + gap], method="hybr", tol=1e-13)
        rates.append(float(solution.x[1]))
    return tuple(rates)


_FEIGENBAUM = 4.669201609102990  # the ratio of successive gaps between doublings


def _double_well_orbit(x: float, eta: float, period: int) -> tuple[float, float]:
    """``period`` steps of gradient descent on the double well from ``x``: where they end and
    the product of the map's derivatives along them."""
    multiplier = 1.0
    for _ in range(period):
        multiplier *= 1.0 - eta * (3.0 * x * x - 1.0)
        x = x - eta * x * (x * x - 1.0)
    return x, multiplier
