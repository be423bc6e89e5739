"""What a trajectory keeps while it runs: reductions in the scan carry, never per-step stacks.

A :class:`Tracker` holds, per trajectory, a few scalars that summarise the whole run (initial
and peak loss, divergence, how much of the motion reversed direction, the late loss envelope),
the running sums of the current record window, and a short ring buffer of the last
``2 * max_period`` steps for period detection. :func:`observe` folds one step in;
:func:`close_window` emits the window's record; :func:`summarise` turns the carry into the
sweep's per-trajectory outputs. Memory per trajectory is independent of the number of steps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import approach
from ._fields import sum_small
from .observe import Observe
from .regimes import Thresholds, classify, converged, detect_period

Params = Any


class Tracker(NamedTuple):
    loss0: jax.Array  # loss at the start
    limit: jax.Array  # divergence limit on the loss
    first_step: jax.Array  # |dx_0|, computed before the loop
    diverged: jax.Array  # bool
    alive_steps: jax.Array  # steps taken before divergence (the divergence step, once diverged)
    pair_weight: jax.Array  # sum of |dx_t . dx_{t-1}| over successive steps (since the split)
    reversed_weight: jax.Array  # the part of it with dx_t . dx_{t-1} < 0
    early_pair_weight: jax.Array  # pair_weight over the windows before the late half
    early_reversed_weight: jax.Array  # reversed_weight over those windows
    prev_update: Params  # dx_{t-1} (only read while alive)
    peak: jax.Array  # largest loss before divergence, folded in at each window's close
    q3_max: jax.Array  # largest loss over the windows starting in [T/2, 3T/4)
    q4_max: jax.Array  # largest loss over the windows starting in [3T/4, T)
    window_max: jax.Array
    window_min: jax.Array | None  # only on noisy runs (see ``start``)
    window_sum: jax.Array
    window_start: jax.Array  # alive_steps when the window opened
    window_last: jax.Array  # loss at the window's latest step
    ring: jax.Array  # (2 * max_period, 2): loss and projection of the last steps
    # noisy runs only, over the late half: the sum of |dx_t|^2, and |dx|^2 of the step before
    # the late half began (see ``step_correlation``)
    step_square_sum: jax.Array | None = None
    step_square_before: jax.Array | None = None
    score_sums: jax.Array | None = None  # (2,): sums of v_t and 1/v_t (see ``trainability``)
    score_scale: jax.Array | None = None  # |L_0| kept away from zero: v_t = L_t / score_scale
    best_loss: jax.Array | None = None  # the smallest loss so far (``Observe.best``)
    best_step: jax.Array | None = None  # the updates done when it was reached
    approach: approach.Approach | None = None  # statistics of the approach (``approach``)
    noise_square: jax.Array | None = None  # squared step length that is rounding noise
    q4_low: jax.Array | None = None  # smallest window-mean loss over the last quarter


#: The trainability score's cap on the normalised loss v_t = L_t / L_0 (also its value once a
#: trajectory has diverged), as in Sohl-Dickstein (2024).
SCORE_CAP = 1e6
#: The trainability score calls a run converged when the mean of its last this many
#: normalised losses is below 1.
SCORE_WINDOW = 20


class Record(NamedTuple):
    """One record every ``record_every`` steps (NaN once the trajectory has diverged)."""

    loss_last: jax.Array  # the loss at the window's last step, as a training loop logs it
    loss_mean: jax.Array  # the mean loss over the window's steps
    loss_min: jax.Array | None  # the smallest loss over the window's steps (noisy runs)
    loss_max: jax.Array | None  # the largest loss over the window's steps (noisy runs)


def tree_dot(a: Params, b: Params) -> jax.Array:
    """Sum of elementwise products over all leaves, tiny leaves summed by additions
    (:func:`lrscape._fields.sum_small`)."""
    total = None
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        term = sum_small((x * y).reshape(-1))
        total = term if total is None else total + term
    return total


def projection_direction(params: Params, dtype: Any) -> Params:
    """A fixed random unit direction shaped like ``params``, the same for every trajectory."""
    leaves, treedef = jax.tree.flatten(params)
    rng = np.random.default_rng(20260101)
    raw = [rng.standard_normal(np.shape(x)) for x in leaves]
    norm = np.sqrt(sum(float(np.sum(r * r)) for r in raw)) or 1.0
    return jax.tree.unflatten(treedef, [jnp.asarray(r / norm, dtype=dtype) for r in raw])


def start(
    loss0: jax.Array, first_update: Params, params: Params, thresholds: Thresholds,
    noisy: bool = False, observe: Observe | None = None,
) -> Tracker:
    """The tracker before step 0, given the loss there and the first update's value.

    ``noisy``: the gradients are noisy; also keep each window's smallest loss and report its
    extremes (``loss_min``, ``loss_max``), and the sums behind :func:`step_correlation`, by
    which such runs are labelled. That costs more per step, so only noisy runs, where the
    spread within a window is the point, keep it. ``observe``: what else to keep (the sums
    behind :func:`trainability`, ...).
    """
    observe = Observe() if observe is None else observe
    score = observe.trainability
    dtype = loss0.dtype
    zero = jnp.zeros((), dtype)
    limit = thresholds.divergence_ratio * jnp.maximum(jnp.abs(loss0), thresholds.divergence_floor)
    first = jnp.sqrt(tree_dot(first_update, first_update))
    return Tracker(
        loss0=loss0,
        limit=limit.astype(dtype),
        first_step=jnp.where(jnp.isfinite(first), first, 0.0).astype(dtype),
        diverged=jnp.zeros((), bool),
        alive_steps=zero,
        pair_weight=zero,
        reversed_weight=zero,
        early_pair_weight=zero,
        early_reversed_weight=zero,
        prev_update=jax.tree.map(jnp.zeros_like, params),
        peak=loss0,
        q3_max=jnp.full((), -jnp.inf, dtype),
        q4_max=jnp.full((), -jnp.inf, dtype),
        window_max=jnp.full((), -jnp.inf, dtype),
        window_min=jnp.full((), jnp.inf, dtype) if noisy else None,
        window_sum=zero,
        window_start=zero,
        window_last=zero,
        ring=jnp.zeros((thresholds.buffer_size, 2), dtype),
        step_square_sum=zero if noisy else None,
        step_square_before=zero if noisy else None,
        score_sums=jnp.zeros((2,), dtype) if score else None,
        score_scale=jnp.maximum(jnp.abs(loss0), jnp.finfo(dtype).tiny) if score else None,
        best_loss=loss0 if observe.best else None,
        best_step=jnp.zeros((), jnp.int32) if observe.best else None,
        approach=approach.start(params, dtype),
        noise_square=_noise_square(params, dtype, thresholds),
        q4_low=jnp.full((), jnp.inf, dtype),
    )


def _noise_square(params: Params, dtype: Any, thresholds: Thresholds) -> jax.Array:
    """The squared step length of ``measurable_ulps`` units in the last place of ``params``
    (its norm times the dtype's epsilon): shorter steps are rounding noise."""
    ulp = thresholds.measurable_ulps * jnp.finfo(dtype).eps
    return (ulp * ulp * tree_dot(params, params)).astype(dtype)


def observe(
    tracker: Tracker,
    t: jax.Array,
    loss: jax.Array,
    update: Params,
    params: Params,
    *,
    direction: Params | None,
    active_change: float = Thresholds.active_change,
) -> tuple[Tracker, jax.Array]:
    """Fold in step ``t``: the loss at ``params`` and the ``update`` about to be applied.

    Returns the new tracker and whether the trajectory is still alive (its update may be
    applied). ``direction`` is the projection direction in the tail of the run that feeds the
    ring buffer, else ``None``; ``active_change`` the threshold of :mod:`lrscape.approach`.
    This runs once per trajectory and step: everything that can
    wait for a window's close or the end of the run does.
    """
    sq = tree_dot(update, update)
    bad = ~(loss <= tracker.limit) | ~(sq < jnp.inf)  # NaN compares False
    diverged = tracker.diverged | bad
    alive = ~diverged
    # dx_{-1} = 0: the first step has no predecessor and adds nothing.
    pair = jnp.where(alive, tree_dot(update, tracker.prev_update), 0.0)
    ring = tracker.ring
    if direction is not None:
        proj = tree_dot(params, direction)
        sample = jnp.stack([jnp.where(alive, loss, 0.0), jnp.where(alive, proj, 0.0)])
        ring = jax.lax.dynamic_update_index_in_dim(ring, sample, t % ring.shape[0], axis=0)
    moved = approach.observe(tracker.approach, t, alive, update, tracker.prev_update, sq, pair,
                             tracker.noise_square, active_change, tree_dot)
    tracker = tracker._replace(
        approach=moved,
        diverged=diverged,
        alive_steps=tracker.alive_steps + alive.astype(loss.dtype),
        pair_weight=tracker.pair_weight + jnp.abs(pair),
        reversed_weight=tracker.reversed_weight + jnp.maximum(-pair, 0.0),
        prev_update=update,
        window_max=jnp.maximum(tracker.window_max, jnp.where(alive, loss, -jnp.inf)),
        window_min=None if tracker.window_min is None else jnp.minimum(
            tracker.window_min, jnp.where(alive, loss, jnp.inf)),
        window_sum=tracker.window_sum + jnp.where(alive, loss, 0.0),
        window_last=loss,
        ring=ring,
    )
    if tracker.step_square_sum is not None:
        tracker = tracker._replace(
            step_square_sum=tracker.step_square_sum + jnp.where(alive, sq, 0.0))
    if tracker.score_sums is not None:
        v = jnp.where(alive, jnp.minimum(loss / tracker.score_scale, SCORE_CAP), SCORE_CAP)
        tracker = tracker._replace(score_sums=tracker.score_sums + jnp.stack([v, 1.0 / v]))
    if tracker.best_loss is not None:
        tracker = _best_so_far(tracker, loss, t, alive)
    return tracker, alive


def _best_so_far(tracker: Tracker, loss: jax.Array, t: jax.Array, alive: jax.Array) -> Tracker:
    """Fold the loss after ``t`` updates into the running minimum (ties keep the earlier)."""
    better = alive & (loss < tracker.best_loss)
    return tracker._replace(best_loss=jnp.where(better, loss, tracker.best_loss),
                            best_step=jnp.where(better, t.astype(jnp.int32), tracker.best_step))


def close_window(tracker: Tracker, w: jax.Array, steps: int, every: int,
                 params: Params = None, thresholds: Thresholds | None = None,
                 ) -> tuple[Tracker, Record]:
    """Emit window ``w``'s record, fold its maximum into the envelopes, reset its sums.

    ``params`` (the iterate at the window's end) sets the rounding-noise step length of the
    next window (:mod:`lrscape.approach`), with ``thresholds.measurable_ulps``.

    The late half of the run is the windows that start at ``steps // 2`` or later (the third
    and fourth quarters of the late envelope). When the next window is its first, the
    reversal weights so far move to ``early_*`` and the running ones restart from zero, so the
    late half's share of reversals costs nothing per step and loses nothing to rounding
    against a large early transient.
    """
    count = tracker.alive_steps - tracker.window_start
    mean = jnp.where(count > 0, tracker.window_sum / jnp.maximum(count, 1.0), jnp.nan)
    dead = tracker.diverged | (count <= 0)
    spread = tracker.window_min is not None
    record = Record(loss_last=jnp.where(tracker.diverged, jnp.nan, tracker.window_last),
                    loss_mean=mean,
                    loss_min=jnp.where(dead, jnp.nan, tracker.window_min) if spread else None,
                    loss_max=jnp.where(dead, jnp.nan, tracker.window_max) if spread else None)
    first = w * every
    in_q3 = (first >= steps // 2) & (first < (3 * steps) // 4)
    in_q4 = first >= (3 * steps) // 4
    wmax = tracker.window_max
    split = (first < steps // 2) & (first + every >= steps // 2)
    tracker = tracker._replace(
        early_pair_weight=jnp.where(split, tracker.pair_weight, tracker.early_pair_weight),
        early_reversed_weight=jnp.where(split, tracker.reversed_weight,
                                        tracker.early_reversed_weight),
        pair_weight=jnp.where(split, 0.0, tracker.pair_weight),
        reversed_weight=jnp.where(split, 0.0, tracker.reversed_weight),
        step_square_sum=None if tracker.step_square_sum is None else jnp.where(
            split, 0.0, tracker.step_square_sum),
        step_square_before=None if tracker.step_square_before is None else jnp.where(
            split, tree_dot(tracker.prev_update, tracker.prev_update),
            tracker.step_square_before),
        peak=jnp.maximum(tracker.peak, wmax),
        q3_max=jnp.where(in_q3, jnp.maximum(tracker.q3_max, wmax), tracker.q3_max),
        q4_max=jnp.where(in_q4, jnp.maximum(tracker.q4_max, wmax), tracker.q4_max),
        window_max=jnp.full_like(wmax, -jnp.inf),
        window_min=None if not spread else jnp.full_like(wmax, jnp.inf),
        window_sum=jnp.zeros_like(tracker.window_sum),
        window_start=tracker.alive_steps,
        q4_low=jnp.where(in_q4 & (count > 0) & ~tracker.diverged,
                         jnp.minimum(tracker.q4_low, mean), tracker.q4_low),
    )
    if params is not None:
        noise = _noise_square(params, tracker.loss0.dtype, thresholds or Thresholds())
        tracker = tracker._replace(noise_square=jnp.where(jnp.isfinite(noise), noise,
                                                          tracker.noise_square))
    return tracker, record


def trainability(
    tracker: Tracker, tail_loss: jax.Array, diverged: jax.Array
) -> tuple[jax.Array, jax.Array]:
    r"""The trainability score of Sohl-Dickstein (2024) and whether the run trained.

    With the normalised losses :math:`v_t = \min(L_t / L_0, 10^6)` over the run's steps
    (:math:`10^6` once diverged), the run *trained* when the mean of its last 20 is below 1
    (averaging over any oscillation), and the score is

    .. math::

        s = \begin{cases} -\sum_t v_t & \text{trained (more negative: faster)} \\
                           \sum_t 1 / v_t & \text{otherwise (smaller: diverged sooner)}
            \end{cases}

    so that images of :math:`s` show shades on both sides of the boundary. ``tail_loss`` holds
    the losses of the last steps, oldest first (the ring buffer); the last 20 of them are used
    (all of them if there are fewer). Meaningful for non-negative losses.
    """
    window = tail_loss[-min(SCORE_WINDOW, tail_loss.shape[0]):]
    trained = ~diverged & (jnp.mean(window) / tracker.score_scale < 1.0)
    total, inverse = tracker.score_sums[0], tracker.score_sums[1]
    return jnp.where(trained, -total, inverse), trained


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
    late_oscillation: jax.Array
    step_ratio: jax.Array
    late_change: jax.Array
    tail: jax.Array  # (2 * max_period, 2): loss and projection of the last steps, oldest first
    step_correlation: jax.Array | None = None  # noisy runs: see ``step_correlation``
    trainability: jax.Array | None = None  # the score of ``trainability`` (when tracked)
    trainable: jax.Array | None = None
    best_loss: jax.Array | None = None  # the smallest loss, the final one included
    best_step: jax.Array | None = None  # updates done when it was reached
    label_margin: jax.Array | None = None  # how far the deciding statistic was from its threshold
    period_mismatch: jax.Array | None = None  # see ``regimes.detect_period``
    approach_reversal: jax.Array | None = None  # see ``lrscape.approach``
    reversals: jax.Array | None = None
    quiet_stretch: jax.Array | None = None  # see ``lrscape.approach.quiet_stretch``
    zigzag_progress: jax.Array | None = None  # see ``lrscape.approach``
    late_low: jax.Array | None = None  # smallest window-mean loss over the last quarter
    lyapunov: jax.Array | None = None  # where tracked (NaN once diverged)


def step_correlation(tracker: Tracker, last_square: jax.Array) -> jax.Array:
    r"""The correlation of successive steps over the late half of a noisy run,

    .. math::

        \rho = \frac{\sum_t \Delta x_t \cdot \Delta x_{t-1}}
                     {\sqrt{\sum_t |\Delta x_t|^2 \, \sum_t |\Delta x_{t-1}|^2}} ,

    over the steps ``t`` of the record windows that start at half the run or later.
    ``last_square`` is :math:`|\Delta x|^2` of the run's last step. The numerator is the late
    half's step-pair weight less twice its reversing part (the sums behind
    ``late_oscillation``), so only the squares are kept for it.
    """
    pair_sum = tracker.pair_weight - 2.0 * tracker.reversed_weight
    now = tracker.step_square_sum
    before = now - last_square + tracker.step_square_before
    norm = jnp.sqrt(jnp.maximum(now, 0.0) * jnp.maximum(before, 0.0))
    return jnp.where(norm > 0, jnp.clip(pair_sum / jnp.maximum(
        norm, jnp.finfo(norm.dtype).tiny), -1.0, 1.0), 0.0)


def _reversed_share(reversed_weight: jax.Array, pair_weight: jax.Array) -> jax.Array:
    """The share of the step-pair weight on reversing pairs (0 where nothing moved)."""
    return jnp.where(pair_weight > 0, jnp.clip(reversed_weight / pair_weight, 0.0, 1.0), 0.0)


def summarise(
    tracker: Tracker, final_loss: jax.Array, steps: int, every: int, thresholds: Thresholds,
    lyapunov: jax.Array | None = None,
) -> Summary:
    """Reduce the final carry to the sweep's outputs and classify the regime (a noisy run's by
    its :func:`step_correlation`, which its tracker keeps).

    ``every`` is the record window's length: the late half of the run is the windows that
    start at ``steps // 2`` or later, and a run of one window has none (``late_oscillation`` is
    NaN there). ``lyapunov``: the run's Lyapunov exponent where it is tracked (it tells a
    chaotic orbit from a long cycle).
    """
    diverged = tracker.diverged | ~(final_loss <= tracker.limit)
    final_loss = jnp.where(diverged, jnp.nan, final_loss)
    peak = jnp.maximum(tracker.peak, jnp.where(diverged, tracker.peak, final_loss))
    size = tracker.ring.shape[0]
    if steps >= size:
        ordered = jnp.roll(tracker.ring, -(steps % size), axis=0)  # oldest first
    else:
        ordered = tracker.ring[:steps]
    max_period = min(thresholds.max_period, max(ordered.shape[0] - 1, 1))
    period, mismatch = detect_period(ordered, thresholds.period_rtol, max_period)
    last_step = jnp.sqrt(tree_dot(tracker.prev_update, tracker.prev_update))
    tiny = jnp.finfo(tracker.first_step.dtype).tiny
    step_ratio = jnp.where(tracker.first_step > 0,
                           last_step / jnp.maximum(tracker.first_step, tiny), 0.0)
    settled = converged(step_ratio, diverged, thresholds)
    period = jnp.where(diverged, 0, jnp.where(settled, 1, period))
    oscillation = _reversed_share(tracker.early_reversed_weight + tracker.reversed_weight,
                                  tracker.early_pair_weight + tracker.pair_weight)
    late_oscillation = _reversed_share(tracker.reversed_weight, tracker.pair_weight)
    if steps // every < 2:
        late_oscillation = jnp.full_like(oscillation, jnp.nan)
    late_change = jnp.where(
        jnp.isfinite(tracker.q3_max) & jnp.isfinite(tracker.q4_max),
        (tracker.q4_max - tracker.q3_max) / jnp.maximum(jnp.abs(tracker.q3_max), 1e-30),
        jnp.nan,  # fewer than four record windows: no late envelope, no CHAOTIC label
    )
    late_low = jnp.where(jnp.isfinite(tracker.q4_low), tracker.q4_low, jnp.nan)
    correlation = None
    if tracker.step_square_sum is not None:
        correlation = step_correlation(tracker, last_step * last_step)
        if steps // every < 2:
            correlation = jnp.full_like(oscillation, jnp.nan)
    if lyapunov is not None:
        lyapunov = jnp.where(diverged, jnp.nan, lyapunov)
    stats = {
        "diverged": diverged, "converged": settled, "period": period,
        "period_mismatch": mismatch, "oscillation": oscillation,
        "late_oscillation": late_oscillation, "late_change": late_change, "late_low": late_low,
        "initial_loss": tracker.loss0, "final_loss": final_loss,
        "approach_reversal": approach.reversal_share(tracker.approach),
        "reversals": tracker.approach.reversals,
        "quiet_stretch": approach.quiet_stretch(tracker.approach),
        "zigzag_progress": tracker.approach.zigzag_progress,
        "step_correlation": correlation, "lyapunov": lyapunov,
    }
    regime, margin = classify({k: v for k, v in stats.items() if v is not None}, thresholds,
                              noisy=correlation is not None)
    nan = jnp.full((), jnp.nan, final_loss.dtype)
    score = trained = None
    if tracker.score_sums is not None:
        score, trained = trainability(tracker, ordered[:, 0], diverged)
    divergence_step = jnp.where(tracker.diverged, tracker.alive_steps.astype(jnp.int32),
                                jnp.where(diverged, steps, -1))
    best = tracker
    if tracker.best_loss is not None:  # the loss after the last update counts too
        best = _best_so_far(tracker, final_loss, jnp.asarray(steps, jnp.int32), ~diverged)
    return Summary(
        regime=regime,
        label_margin=margin,
        period_mismatch=jnp.where(diverged, nan, mismatch),
        approach_reversal=stats["approach_reversal"],
        reversals=stats["reversals"],
        quiet_stretch=stats["quiet_stretch"],
        zigzag_progress=stats["zigzag_progress"],
        late_low=jnp.where(diverged, nan, late_low),
        lyapunov=lyapunov,
        period=period.astype(jnp.int32),
        converged=settled,
        initial_loss=tracker.loss0,
        final_loss=final_loss,
        peak_loss_ratio=jnp.where(tracker.loss0 > 0, peak / tracker.loss0, nan),
        divergence_step=divergence_step,
        oscillation=oscillation,
        late_oscillation=late_oscillation,
        step_ratio=jnp.where(diverged, nan, step_ratio),
        late_change=jnp.where(diverged, nan, late_change),
        tail=jnp.where(diverged, nan, ordered),
        step_correlation=None if correlation is None else jnp.where(diverged, nan, correlation),
        trainability=score,
        trainable=trained,
        best_loss=best.best_loss,
        best_step=best.best_step,
    )
