r"""A twin of a real training run: a noisy quadratic model fitted to its log.

>>> import lrscape
>>> twin = lrscape.twin.fit(log, batch_size=32)          # doctest: +SKIP
>>> print(twin.summary())                                 # doctest: +SKIP
>>> cut = lrscape.schedules.get("piecewise-constant", boundaries=[3000], multipliers=[1, 0.1])
>>> twin.predict(0.1, steps=6000, schedule=cut)          # doctest: +SKIP

The twin is the noisy quadratic model of Zhang et al. ("Which algorithmic choices matter at
which batch sizes? Insights from a noisy quadratic model", 2019) with a power-law spectrum
:math:`h_i = h_1 i^{-\alpha}` over :math:`n` directions, a start :math:`x_0` in every
direction, gradient noise of variance :math:`\nu h_i` (:math:`\nu = \sigma^2 / B`) and a loss
floor :math:`c`: six numbers with a validation floor, fitted to the log's window means by
least squares in log loss (:mod:`lrscape.twin._model` has the exact expected log). Its expected
loss under any schedule is :func:`lrscape.theory.nqm_expected_loss`; its landscape,
:meth:`Twin.landscape`, is a ``noisy-quadratic`` landscape any :func:`lrscape.sweep` accepts.

What it cannot be: a quadratic has no early phase in which the loss waits before it falls (a
network leaving its initial plateau), no sharpness that changes during training, and no
validation loss that rises again; the twin's error on the log (:attr:`Twin.quality`) and its
spread over resampled logs say how far to trust it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import require_int
from . import _fit
from ._log import TrainingLog
from ._model import Parameters
from ._twin import FitQuality, Stability, Twin

__all__ = ["FitQuality", "Parameters", "Stability", "TrainingLog", "Twin", "fit"]

OPTIMIZERS = ("sgd", "momentum")


def fit(log: Any, *, batch_size: float | None = None, optimizer: str = "sgd",
        momentum: float = 0.0, dim: int = 100, restarts: int = 24, resamples: int = 16,
        seed: int = 0) -> Twin:
    r"""Fit a twin to a training log.

    Args:
        log: a pandas DataFrame, a mapping of 1-D arrays or a CSV path with columns ``step``
            (the update count at the end of each row), ``learning_rate`` (the rate used since
            the previous row), ``loss`` (the mean minibatch loss since the previous row) and
            optionally ``val_loss`` (measured at the row's end).
        batch_size: the run's batch size, if known: then the twin can predict other batch
            sizes (the gradient noise scales as :math:`1/B`).
        optimizer: ``"sgd"`` (with ``momentum``, optax's heavy ball
            :math:`m^+ = \beta m + g`, :math:`x^+ = x - \eta m^+`) or ``"momentum"`` (the same,
            ``momentum`` defaulting to 0.9 as lrscape's optimizer does).
        momentum: :math:`\beta \in [0, 1)`.
        dim: :math:`n`, the directions of the spectrum.
        restarts: random starts of the fit; the best is kept.
        resamples: refits on block-resampled logs that give the spread of every number and
            prediction (0 for none).
        seed: the random starts' and resamples' seed.

    Returns:
        the fitted :class:`Twin`.
    """
    log = TrainingLog.read(log)
    momentum = _momentum(optimizer, momentum)
    dim = require_int("dim", dim, 1)
    restarts = require_int("restarts", restarts, 1)
    resamples = require_int("resamples", resamples, 0)
    if batch_size is not None and not (np.isfinite(batch_size) and batch_size > 0):
        raise ValueError(f"`batch_size` must be a finite number > 0 or None, got {batch_size!r}")
    problem = _fit.Problem.of(log, dim, momentum)
    with jax.enable_x64(True):
        u, values = _fit.fit_best(problem, log, restarts, seed)
        refits = _fit.resample(problem, u, resamples, seed + 1)
        quality = _quality(problem, u, values)
        best = _parameters(u, problem, log)
        replicates = _parameters(refits, problem, log)
    return Twin(parameters=best, replicates=replicates, log=log, quality=quality, dim=dim,
                momentum=momentum, batch_size=None if batch_size is None else float(batch_size))


def _momentum(optimizer: str, momentum: float) -> float:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {', '.join(OPTIMIZERS)} (the twin's "
                         f"expected loss is exact for SGD with heavy-ball momentum), got "
                         f"{optimizer!r}")
    if optimizer == "momentum" and momentum == 0.0:
        momentum = 0.9
    if not (isinstance(momentum, int | float | np.floating) and 0 <= momentum < 1):
        raise ValueError(f"`momentum` must be in [0, 1), got {momentum!r}")
    return float(momentum)


def _parameters(u: np.ndarray, problem: _fit.Problem, log: TrainingLog) -> Parameters:
    """Parameters as NumPy floats (or arrays for a stack of ``u``); NaN val floor without one."""
    unpack = jax.vmap(lambda v: _fit.unpack(v, problem.top_limit))
    p = unpack(jnp.atleast_2d(jnp.asarray(u)))
    p = Parameters(*(np.asarray(a, dtype=np.float64) for a in p))
    if log.val_loss is None:
        p = p._replace(val_offset=np.full_like(p.val_offset, np.nan))
    if np.ndim(u) == 1:
        p = Parameters(*(float(a[0]) for a in p))
    return p


def _quality(problem: _fit.Problem, u: np.ndarray, values: np.ndarray) -> FitQuality:
    r, rv = _fit.residuals(jnp.asarray(u), problem, jnp.asarray(problem.log_loss),
                           None if problem.log_val is None else jnp.asarray(problem.log_val))
    rel = np.abs(np.expm1(np.asarray(r)))
    val = float("nan") if rv is None else float(np.median(np.abs(np.expm1(np.asarray(rv)))))
    best = float(np.min(values))
    return FitQuality(rms_relative_error=float(np.sqrt(np.mean(np.asarray(r) ** 2))),
                      median_relative_error=float(np.median(rel)),
                      max_relative_error=float(np.max(rel)), val_median_relative_error=val,
                      restarts_agreeing=int(np.sum(values <= best * 1.01 + 1e-12)),
                      restarts=int(values.size))
