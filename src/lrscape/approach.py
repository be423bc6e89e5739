r"""How a trajectory approaches its attractor: statistics of its last measurable steps.

The regime of a converging run is the way it settles (:mod:`lrscape.regimes`): smoothly, in a
zig-zag, or ringing like an underdamped spring. Near an attractor the optimizer's map is close
to its linearisation, so these are properties of the linearisation's roots: a positive real
root settles smoothly, a negative one zig-zags, and a complex pair at angle :math:`\theta`
rings, turning by :math:`\theta` per step. A whole-run average of the steps mixes this with the
transient: one large overshoot on the way in, or a long monotone slide before a small zig-zag,
outweighs what happens near the attractor. The statistics here look at the approach instead:

* A step :math:`t \ge 2` is *measurable* when its length is above ``measurable_ulps`` units in
  the last place of the iterate (rounding noise below that is not motion) and both of its
  second differences :math:`D_t = \Delta x_t - \Delta x_{t-1}` and :math:`D_{t-1}` are at
  least ``active_change`` times the steps they join (a step that does not change is a steady
  drift, such as the slide along a valley floor, which approaches nothing).
* ``approach_reversal`` is the share of the *progress* of the measurable steps made by steps
  whose second differences reverse, :math:`D_t \cdot D_{t-1} < 0`. The progress of a step is
  how far it lowers the record low of the step energy :math:`|\Delta x_t|^2 +
  |\Delta x_{t-1}|^2`, in nats: every factor of :math:`e` by which the motion dies away counts
  the same, whether it took one step or a hundred. Second differences cancel a drift, so a
  valley's walls are seen under its floor's slide. On a quadratic the share is 0 below
  :math:`\eta\lambda = 1` and 1 above it, for gradient descent from any start.
* ``reversals`` counts the measurable steps that turn around: the step reverses,
  :math:`\Delta x_t \cdot \Delta x_{t-1} < 0`, or its change does, :math:`D_t \cdot D_{t-1} < 0`
  (so the swings of a valley's walls count under the floor's drift). A ringing iterate turns
  around again and again, to the end of its measurable motion; a smooth approach at most
  once or twice on its way in (where a start from rest stops accelerating, or a first step
  overshoots), followed by a long quiet stretch (``quiet_stretch``).
* ``zigzag_progress``: the progress, in nats, made by steps that reverse right after a
  reversal (:math:`\Delta x_t \cdot \Delta x_{t-1} < 0` two steps running): a zig-zag
  dying away. A spiral turning by less than a quarter turn per step never reverses twice
  running, and a bounded chaotic phase makes no lasting progress, so neither adds to it.

Everything is a scalar in the scan carry (and the step before last), updated once per step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Params = Any


class Approach(NamedTuple):
    """The carry of the approach statistics for one trajectory."""

    before_last: Params  # dx_{t-2}
    last_square: jax.Array  # |dx_{t-1}|^2
    last_pair: jax.Array  # dx_{t-1} . dx_{t-2}
    last_active: jax.Array  # bool: |D_{t-1}| was at least active_change of its steps
    last_reversed: jax.Array  # bool: step t-1 was measurable and reversed (dx . dx_prev < 0)
    low: jax.Array  # the record low of the step energy over measurable steps
    reversed_progress: jax.Array  # progress of measurable steps whose D reverses
    progress: jax.Array  # progress of all measurable steps
    progress_at_turn: jax.Array  # ``progress`` at the latest turn-around
    reversals: jax.Array  # int32: measurable steps that turned around
    zigzag_progress: jax.Array  # progress of steps that reversed right after a reversal


def start(params: Params, dtype: Any) -> Approach:
    """The carry before step 0 (the steps before the first are zero: a start at rest)."""
    zero = jnp.zeros((), dtype)
    return Approach(
        before_last=jax.tree.map(jnp.zeros_like, params), last_square=zero, last_pair=zero,
        last_active=jnp.zeros((), bool), last_reversed=jnp.zeros((), bool),
        low=jnp.full((), jnp.inf, dtype), reversed_progress=zero, progress=zero,
        progress_at_turn=zero, reversals=jnp.zeros((), jnp.int32), zigzag_progress=zero)


def observe(state: Approach, t: jax.Array, alive: jax.Array, update: Params,
            prev_update: Params, square: jax.Array, pair: jax.Array, noise_square: jax.Array,
            active_change: float, dot: Any) -> Approach:
    r"""Fold in step ``t``: its update, the one before, ``|dx_t|^2`` and ``dx_t . dx_{t-1}``.

    ``noise_square`` is the squared step length below which a step is rounding noise;
    ``dot`` the tree dot product of :mod:`lrscape.record`. This runs once per trajectory and
    step, so it is kept to a few scalar operations: the second differences' products come
    from the steps' (:math:`D_t \cdot D_{t-1} = p_t - \Delta x_t \cdot \Delta x_{t-2} -
    |\Delta x_{t-1}|^2 + p_{t-1}`), and whether :math:`D_{t-1}` was active is carried.
    """
    across = dot(update, state.before_last)  # dx_t . dx_{t-2}
    s1, p1 = state.last_square, state.last_pair
    energy = square + s1
    d_square = square - 2.0 * pair + s1  # |D_t|^2
    # D_t changes measurably: against the steps it joins, and against rounding noise
    active = (d_square > (active_change * active_change) * energy) & (d_square > noise_square)
    d_pair = pair - across - s1 + p1  # D_t . D_{t-1}
    measurable = alive & (t >= 2) & (square > noise_square) & active & state.last_active
    gain = jnp.where(measurable & (energy < state.low) & (state.low < jnp.inf),
                     0.5 * jnp.log(state.low / jnp.maximum(energy, jnp.finfo(energy.dtype).tiny)),
                     0.0)
    reversed_now = measurable & (pair < 0)
    turned = reversed_now | (measurable & (d_pair < 0))
    progress = state.progress + gain
    return Approach(
        before_last=prev_update,
        last_square=square,
        last_pair=pair,
        last_active=active,
        last_reversed=reversed_now,
        low=jnp.where(measurable, jnp.minimum(state.low, energy), state.low),
        reversed_progress=state.reversed_progress + jnp.where(d_pair < 0, gain, 0.0),
        progress=progress,
        progress_at_turn=jnp.where(turned, progress, state.progress_at_turn),
        reversals=state.reversals + turned.astype(jnp.int32),
        zigzag_progress=state.zigzag_progress + jnp.where(
            reversed_now & state.last_reversed, gain, 0.0),
    )


def quiet_stretch(state: Approach) -> jax.Array:
    """``quiet_stretch``: the share of the approach's progress made after its last turn-around
    (NaN with fewer than two turn-arounds). Ringing turns around to the end of its measurable
    motion (a small share); a transient that turned around twice on its way in and then
    settled smoothly made nearly all of its progress after them."""
    after = state.progress - state.progress_at_turn
    return jnp.where((state.reversals >= 2) & (state.progress > 0),
                     after / jnp.maximum(state.progress, jnp.finfo(state.progress.dtype).tiny),
                     jnp.nan)


def reversal_share(state: Approach) -> jax.Array:
    """``approach_reversal``: the share of the progress made by reversing second differences
    (NaN where the measurable steps made no progress)."""
    return jnp.where(state.progress > 0,
                     state.reversed_progress / jnp.maximum(state.progress,
                                                           jnp.finfo(state.progress.dtype).tiny),
                     jnp.nan)
