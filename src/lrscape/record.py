"""What a trajectory keeps while it runs: reductions in the scan carry, never per-step stacks.

A :class:`Tracker` holds, per trajectory, a few scalars that summarise the whole run (initial and
peak loss, divergence, path length and how much of it reversed direction, the late loss
envelope), the running sums of the current record window, and a short ring buffer of the last
``2 * max_period`` steps for period detection. :func:`observe` folds one step in;
:func:`close_window` emits the window's record; :func:`summarise` turns the carry into the
sweep's per-trajectory outputs. Memory per trajectory is independent of the number of steps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .regimes import Thresholds, classify, detect_period

Params = Any


class Tracker(NamedTuple):
    loss0: jax.Array  # loss at the start
    limit: jax.Array  # divergence limit on the loss
    peak: jax.Array  # largest loss before divergence
    diverged: jax.Array  # bool
    divergence_step: jax.Array  # int32, -1 while finite
    path: jax.Array  # sum of step lengths |dx_t| for t >= 1 (steps with a predecessor)
    reversed_path: jax.Array  # sum of |dx_t| over steps with dx_t . dx_{t-1} < 0
    first_step: jax.Array  # |dx_0|
    last_step: jax.Array  # |dx_t| of the latest step
    prev_update: Params  # dx_{t-1}
    q3_max: jax.Array  # largest loss over steps [T/2, 3T/4)
    q4_max: jax.Array  # largest loss over steps [3T/4, T)
    window_sum: jax.Array
    window_count: jax.Array
    window_last: jax.Array  # loss at the window's latest step (NaN once diverged)
    ring: jax.Array  # (2 * max_period, 2): loss and projection of the last steps


class Record(NamedTuple):
    """One record every ``record_every`` steps (NaN once the trajectory has diverged)."""

    loss_last: jax.Array  # the loss at the window's last step, as a training loop logs it
    loss_mean: jax.Array  # the mean loss over the window's steps


def tree_dot(a: Params, b: Params) -> jax.Array:
    """Sum of elementwise products over all leaves, with tiny axes summed by additions."""
    total = None
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        prod = (x * y).reshape(-1)
        if prod.shape[0] <= 4:
            term = prod[0]
            for i in range(1, prod.shape[0]):
                term = term + prod[i]
        else:
            term = jnp.sum(prod)
        total = term if total is None else total + term
    return total


def projection_direction(params: Params, dtype: Any) -> Params:
    """A fixed random unit direction shaped like ``params``, the same for every trajectory."""
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng(20260101)
    raw = [rng.standard_normal(np.shape(x)) for x in leaves]
    norm = np.sqrt(sum(float(np.sum(r * r)) for r in raw)) or 1.0
    return jax.tree.unflatten(treedef, [jnp.asarray(r / norm, dtype=dtype) for r in raw])


def start(loss0: jax.Array, params: Params, thresholds: Thresholds) -> Tracker:
    dtype = loss0.dtype
    zero = jnp.zeros((), dtype)
    limit = thresholds.divergence_ratio * jnp.maximum(jnp.abs(loss0), thresholds.divergence_floor)
    return Tracker(
        loss0=loss0,
        limit=limit.astype(dtype),
        peak=loss0,
        diverged=jnp.zeros((), bool),
        divergence_step=jnp.full((), -1, jnp.int32),
        path=zero,
        reversed_path=zero,
        first_step=zero,
        last_step=zero,
        prev_update=jax.tree.map(jnp.zeros_like, params),
        q3_max=jnp.full((), -jnp.inf, dtype),
        q4_max=jnp.full((), -jnp.inf, dtype),
        window_sum=zero,
        window_count=zero,
        window_last=zero,
        ring=jnp.zeros((thresholds.buffer_size, 2), dtype),
    )


def observe(
    tracker: Tracker,
    t: jax.Array,
    loss: jax.Array,
    update: Params,
    params: Params,
    *,
    steps: int,
    direction: Params | None,
) -> tuple[Tracker, jax.Array]:
    """Fold in step ``t``: the loss at ``params`` and the ``update`` about to be applied.

    Returns the new tracker and whether the trajectory is still alive (its update may be
    applied). ``direction`` is the projection direction, or ``None`` outside the ring
    buffer's tail of the run.
    """
    sq = tree_dot(update, update)
    bad = ~(loss <= tracker.limit) | ~(sq < jnp.inf)  # NaN compares False
    diverged = tracker.diverged | bad
    alive = ~diverged
    length = jnp.where(alive, jnp.sqrt(jnp.where(alive, sq, 0.0)), 0.0)
    reverses = tree_dot(update, tracker.prev_update) < 0
    safe_loss = jnp.where(alive, loss, tracker.peak)
    in_q3 = (t >= steps // 2) & (t < (3 * steps) // 4)
    in_q4 = t >= (3 * steps) // 4
    ring = tracker.ring
    if direction is not None:
        proj = tree_dot(params, direction)
        sample = jnp.stack([safe_loss, jnp.where(alive, proj, 0.0)])
        ring = jax.lax.dynamic_update_index_in_dim(ring, sample, t % ring.shape[0], axis=0)
    tracker = Tracker(
        loss0=tracker.loss0,
        limit=tracker.limit,
        peak=jnp.maximum(tracker.peak, safe_loss),
        diverged=diverged,
        divergence_step=jnp.where(bad & ~tracker.diverged, t, tracker.divergence_step),
        path=tracker.path + jnp.where(t > 0, length, 0.0),  # steps with a predecessor
        reversed_path=tracker.reversed_path + jnp.where(reverses, length, 0.0),
        first_step=jnp.where(t == 0, length, tracker.first_step),
        last_step=jnp.where(alive, length, tracker.last_step),
        prev_update=jax.tree.map(
            lambda new, old: jnp.where(alive, new, old), update, tracker.prev_update
        ),
        q3_max=jnp.where(in_q3, jnp.maximum(tracker.q3_max, safe_loss), tracker.q3_max),
        q4_max=jnp.where(in_q4, jnp.maximum(tracker.q4_max, safe_loss), tracker.q4_max),
        window_sum=tracker.window_sum + jnp.where(alive, loss, 0.0),
        window_count=tracker.window_count + alive.astype(loss.dtype),
        window_last=jnp.where(alive, loss, jnp.nan),
        ring=ring,
    )
    return tracker, alive


def close_window(tracker: Tracker) -> tuple[Tracker, Record]:
    """Emit the current window's record and reset its sums."""
    mean = jnp.where(
        tracker.window_count > 0,
        tracker.window_sum / jnp.maximum(tracker.window_count, 1.0),
        jnp.nan,
    )
    record = Record(loss_last=tracker.window_last, loss_mean=mean)
    zero = jnp.zeros_like(tracker.window_sum)
    return tracker._replace(window_sum=zero, window_count=zero), record


class Summary(NamedTuple):
    """Per-trajectory outputs of a sweep, besides the records."""

    regime: jax.Array
    period: jax.Array
    converged: jax.Array
    initial_loss: jax.Array
    final_loss: jax.Array
    peak_loss_ratio: jax.Array
    divergence_step: jax.Array
    oscillation: jax.Array
    step_ratio: jax.Array
    late_change: jax.Array


def summarise(
    tracker: Tracker, final_loss: jax.Array, steps: int, thresholds: Thresholds
) -> Summary:
    """Reduce the final carry to the sweep's outputs and classify the regime."""
    diverged = tracker.diverged | ~(final_loss <= tracker.limit)
    final_loss = jnp.where(diverged, jnp.nan, final_loss)
    peak = jnp.maximum(tracker.peak, jnp.where(diverged, tracker.peak, final_loss))
    size = tracker.ring.shape[0]
    if steps >= size:
        ordered = jnp.roll(tracker.ring, -(steps % size), axis=0)  # oldest first
    else:
        ordered = tracker.ring[:steps]
    max_period = min(thresholds.max_period, max(ordered.shape[0] - 1, 1))
    period = detect_period(ordered, thresholds.period_rtol, max_period)
    period = jnp.where(diverged, 0, period)
    step_ratio = tracker.last_step / jnp.maximum(tracker.first_step, jnp.finfo(
        tracker.first_step.dtype).tiny)
    step_ratio = jnp.where(tracker.first_step > 0, step_ratio, 0.0)
    converged = ~diverged & (step_ratio <= thresholds.converged_tol)
    period = jnp.where(converged, 1, period)  # a converged trajectory sits on a fixed point
    oscillation = jnp.where(tracker.path > 0, tracker.reversed_path / tracker.path, 0.0)
    late_change = jnp.where(
        jnp.isfinite(tracker.q3_max) & jnp.isfinite(tracker.q4_max),
        (tracker.q4_max - tracker.q3_max) / jnp.maximum(jnp.abs(tracker.q3_max), 1e-30),
        0.0,
    )
    regime = classify(
        diverged=diverged, converged=converged, period=period, oscillation=oscillation,
        late_change=late_change, thresholds=thresholds,
    )
    nan = jnp.full((), jnp.nan, final_loss.dtype)
    return Summary(
        regime=regime,
        period=period.astype(jnp.int32),
        converged=converged,
        initial_loss=tracker.loss0,
        final_loss=final_loss,
        peak_loss_ratio=jnp.where(tracker.loss0 > 0, peak / tracker.loss0, nan),
        divergence_step=jnp.where(
            diverged & (tracker.divergence_step < 0), steps, tracker.divergence_step
        ),
        oscillation=oscillation,
        step_ratio=jnp.where(diverged, nan, step_ratio),
        late_change=jnp.where(diverged, nan, late_change),
    )
