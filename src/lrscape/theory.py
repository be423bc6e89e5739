r"""Closed-form predictions, for tests and for figure overlays.

All edges are for a quadratic of curvature :math:`\lambda` (the largest Hessian eigenvalue, or
the eigenvalue of the direction considered), as products :math:`\eta\lambda`: divide by
:math:`\lambda` for a learning rate, or call :func:`critical_learning_rate`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ArrayLike = Any


def gd_oscillation_edge() -> float:
    r"""Gradient descent starts to reverse direction each step beyond :math:`\eta\lambda = 1`.

    The iteration :math:`x \mapsto (1 - \eta\lambda)\,x` flips sign when :math:`\eta\lambda > 1`.
    """
    return 1.0


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
