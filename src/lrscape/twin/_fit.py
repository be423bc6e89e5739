"""Fitting the twin's parameters to a log: least squares in log loss, restarts, resampling.

The objective is the mean squared difference between the log of the logged loss and the log
of the twin's expected log (:func:`lrscape.twin.expected_log`), so every row counts by
its relative error, early rows at loss 2 as much as late ones at 0.02; with ``val_loss`` the
validation snapshots add their own mean. It (:func:`cost`) is minimised by Levenberg-Marquardt in an
unconstrained parametrisation, from several random starts at once (``vmap``), with the
Jacobian differentiated through the model in JAX. Hand-written rather than a library's: it
runs inside one jitted, vmapped scan, which scipy's or optax's line-search solvers do not.

The spread of the fit is a moving-block bootstrap: the fitted log times resampled
blocks of its relative residuals, refitted from the fit.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._log import TrainingLog
from ._model import Parameters, bits_for, expected_log

ITERATIONS = 200
RESAMPLE_ITERATIONS = 60
LOG_NEGLIGIBLE = -70.0  # e^-70 = 4e-31: a noise or a floor this small is none


@dataclasses.dataclass(frozen=True, eq=False)  # hashed by identity: a static jit argument
class Problem:
    """What the objective needs of a log: per-row inputs and the static shape of the model."""

    rates: np.ndarray
    windows: np.ndarray
    log_loss: np.ndarray
    log_val: np.ndarray | None
    dim: int
    momentum: float

    @classmethod
    def of(cls, log: TrainingLog, dim: int, momentum: float) -> Problem:
        val = None if log.val_loss is None else np.log(log.val_loss)
        return cls(rates=log.learning_rate, windows=log.window.astype(np.int64),
                   log_loss=np.log(log.loss), log_val=val, dim=dim, momentum=momentum)

    @property
    def edge(self) -> float:
        """The stability edge of eta * h1 for heavy ball: 2 (1 + momentum)."""
        return 2.0 * (1.0 + self.momentum)

    @property
    def top_limit(self) -> float:
        """The largest top curvature stable at every rate of the log: edge / max rate."""
        return self.edge / float(np.max(self.rates))

    @property
    def bits(self) -> int:
        return bits_for(self.windows)


def unpack(u: jax.Array, top_limit: float) -> Parameters:
    """Parameters from the unconstrained vector ``u`` (6 numbers)."""
    small = jnp.maximum(u[3:], LOG_NEGLIGIBLE)  # noise and floors: 0 is reached as e^-70
    return Parameters(
        top_curvature=top_limit * jax.nn.sigmoid(u[0]), exponent=jnp.exp(u[1]),
        initial_loss=jnp.exp(u[2]), noise=jnp.exp(small[0]), offset=jnp.exp(small[1]),
        val_offset=jnp.exp(small[2]))


def pack(p: Parameters, top_limit: float) -> np.ndarray:
    """The inverse of :func:`unpack`."""
    ratio = np.clip(float(p.top_curvature) / top_limit, 1e-12, 1 - 1e-12)
    val = float(p.val_offset) if np.isfinite(p.val_offset) else 1.0
    return np.array([np.log(ratio / (1 - ratio)), np.log(p.exponent), np.log(p.initial_loss),
                     np.log(p.noise), np.log(max(float(p.offset), 1e-300)), np.log(val)])


def residuals(u: jax.Array, problem: Problem, log_loss: jax.Array, log_val: jax.Array | None
              ) -> tuple[jax.Array, jax.Array | None]:
    """log(logged) - log(expected) per row, for the loss and the validation loss."""
    p = unpack(u, problem.top_limit)
    means, snapshots = expected_log(
        p, jnp.asarray(problem.rates), jnp.asarray(problem.windows), dim=problem.dim,
        momentum=problem.momentum, bits=problem.bits)
    r = log_loss - jnp.log(p.offset + means)
    rv = None if log_val is None else log_val - jnp.log(p.val_offset + snapshots)
    return r, rv


def _residual_vector(u: jax.Array, problem: Problem, log_loss: jax.Array,
                     log_val: jax.Array | None) -> jax.Array:
    """The residuals, each part divided by the root of its length: their sum of squares is
    the objective (:func:`cost`)."""
    r, rv = residuals(u, problem, log_loss, log_val)
    r = r / jnp.sqrt(r.size)
    return r if rv is None else jnp.concatenate([r, rv / jnp.sqrt(rv.size)])


def cost(u: jax.Array, problem: Problem, log_loss: jax.Array, log_val: jax.Array | None
         ) -> jax.Array:
    """The objective: mean squared log residual of the loss, plus that of ``val_loss``."""
    r = _residual_vector(u, problem, log_loss, log_val)
    value = jnp.sum(r * r)
    return jnp.where(jnp.isfinite(value), value, jnp.inf)


def _descend(u0: jax.Array, problem: Problem, log_loss: jax.Array, log_val: jax.Array | None,
             iterations: int, damping: float) -> tuple[jax.Array, jax.Array]:
    """Levenberg-Marquardt from ``u0`` on one log: the point reached and its objective.

    Six parameters make the Jacobian cheap in forward mode (six tangents; reverse mode's pass
    back through the scan over rows runs slowly on XLA's CPU backend), and the damped
    Gauss-Newton step converges in tens of iterations where gradient descent needs thousands.
    A step is kept only when it lowers the objective; non-finite trials raise the damping.
    """
    def step(carry, _):
        u, value, lam = carry
        r = _residual_vector(u, problem, log_loss, log_val)
        jac = jax.jacfwd(_residual_vector)(u, problem, log_loss, log_val)
        jac = jnp.where(jnp.isfinite(jac), jac, 0.0)
        normal = jac.T @ jac
        scale = jnp.diag(normal) + 1e-12
        delta = jnp.linalg.solve(normal + lam * jnp.diag(scale), -(jac.T @ r))
        trial = u + jnp.where(jnp.isfinite(delta), delta, 0.0)
        trial_value = cost(trial, problem, log_loss, log_val)
        better = trial_value < value
        return (jnp.where(better, trial, u), jnp.where(better, trial_value, value),
                jnp.clip(jnp.where(better, lam / 3.0, lam * 4.0), 1e-9, 1e9)), None

    init = (u0, cost(u0, problem, log_loss, log_val), jnp.asarray(damping, u0.dtype))
    (u, value, _), _ = jax.lax.scan(step, init, None, length=iterations)
    return u, value


@partial(jax.jit, static_argnames=("problem", "iterations", "damping"))
def descend_many(u0: jax.Array, problem: Problem, log_loss: jax.Array,
                 log_val: jax.Array | None, iterations: int, damping: float
                 ) -> tuple[jax.Array, jax.Array]:
    """:func:`_descend` from each row of ``u0`` against the log in the matching row."""
    return jax.vmap(_descend, in_axes=(0, None, 0, 0 if log_val is not None else None,
                                       None, None))(u0, problem, log_loss, log_val,
                                                    iterations, damping)


def starts(problem: Problem, log: TrainingLog, restarts: int, rng: np.random.Generator
           ) -> np.ndarray:
    """``restarts`` random unconstrained starting points spread over plausible values."""
    floor = float(np.min(log.loss))
    out = []
    for _ in range(restarts):
        top = problem.top_limit * np.exp(rng.uniform(np.log(1e-3), np.log(0.95)))
        exponent = np.exp(rng.uniform(np.log(0.3), np.log(4.0)))
        h = top * np.arange(1, problem.dim + 1) ** (-exponent)
        noise = np.exp(rng.uniform(np.log(1e-6), 0.0)) * 4 * floor / (
            float(log.learning_rate[-1]) * h.sum())  # a noise floor up to 4x the lowest loss
        val = np.nan if log.val_loss is None else float(np.min(log.val_loss)) * np.exp(
            rng.uniform(np.log(1e-2), 0.0))
        out.append(pack(Parameters(
            top_curvature=top, exponent=exponent, noise=noise, val_offset=val,
            initial_loss=float(log.loss[0]) * np.exp(rng.uniform(0.0, 1.0)),
            offset=floor * np.exp(rng.uniform(np.log(1e-3), np.log(0.9)))), problem.top_limit))
    return np.stack(out)


def fit_best(problem: Problem, log: TrainingLog, restarts: int, seed: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """The best of ``restarts`` descents: its unconstrained point, and every start's objective."""
    u0 = starts(problem, log, restarts, np.random.default_rng(seed))
    loss = np.broadcast_to(problem.log_loss, (restarts, problem.log_loss.size))
    val = None if problem.log_val is None else np.broadcast_to(
        problem.log_val, (restarts, problem.log_val.size))
    u, values = descend_many(jnp.asarray(u0), problem, jnp.asarray(loss),
                             None if val is None else jnp.asarray(val), ITERATIONS, 1e-2)
    values = np.asarray(values)
    return np.asarray(u[int(np.argmin(values))]), values


def resample(problem: Problem, u: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Refits on ``resamples`` logs made of the fit and block-resampled relative residuals."""
    if resamples == 0:
        return np.empty((0, 6))
    r, rv = (None if x is None else np.asarray(x)
             for x in residuals(jnp.asarray(u), problem, jnp.asarray(problem.log_loss),
                                None if problem.log_val is None
                                else jnp.asarray(problem.log_val)))
    rng = np.random.default_rng(seed)
    fitted = problem.log_loss - r
    logs = np.stack([fitted + _blocks(r, rng) for _ in range(resamples)])
    vals = None
    if rv is not None:
        fitted_val = problem.log_val - rv
        vals = jnp.asarray(np.stack([fitted_val + _blocks(rv, rng) for _ in range(resamples)]))
    u0 = jnp.broadcast_to(jnp.asarray(u), (resamples, u.size))
    refits, _ = descend_many(u0, problem, jnp.asarray(logs), vals, RESAMPLE_ITERATIONS, 1e-3)
    return np.asarray(refits)


def _blocks(r: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A moving-block bootstrap resample of ``r``, blocks of about an eighth of its length."""
    n = r.size
    length = max(1, n // 8)
    out = np.concatenate([r[s:s + length] for s in rng.integers(0, n - length + 1,
                                                                size=-(-n // length))])
    return out[:n]
