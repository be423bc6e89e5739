r"""What a trajectory did: the :class:`Regime` labels and the classifier that assigns them.

The classifier reads a handful of per-trajectory scalars that the sweep reduces inside its scan
(see :mod:`lrscape.record`); nothing per step is stored. It is a pure ``jax.numpy`` function, so
it runs inside the compiled sweep and equally on the NumPy arrays of a finished Dataset
(:func:`reclassify`), which lets thresholds be changed without re-running anything but period
detection.

The rules, in order:

1. ``DIVERGED`` — the loss became non-finite or passed ``divergence_ratio`` times the initial
   loss (the trajectory is frozen there; ``divergence_step`` says when); or the run ended
   *growing*: its final loss is above its initial loss and its late envelope (the largest loss
   over the record windows that start in the last quarter of the run) is at least
   ``1 + growing_change`` times that over the third quarter. An unstable run that a short
   horizon stopped before it reached the divergence limit (gradient descent at
   :math:`\eta\lambda = 2.1` grows the loss by :math:`1.1^{2t}`, 10^4 in 50 steps) is
   diverging, not bouncing; its ``divergence_step`` is -1, since it never passed the limit.
   Noisy runs are not judged growing: their envelope fluctuates, and a noise floor above the
   starting loss (gradient descent at :math:`\eta\lambda = 1.5` started near the minimum)
   would be called diverging whenever the last quarter's peak doubled the third's by chance.
2. *settled* — ``converged`` (the last step is shorter than ``converged_tol`` times the first) or
   the tail is constant (period 1): the label is the way it approached, rule 5.
3. ``PERIODIC`` — the tail of the run repeats with a period ``2 <= p <= max_period``, comparing
   the loss and a fixed random projection of the iterate (so the symmetric 2-cycle
   ``x, -x, x, ...`` with constant loss is found).
4. ``CHAOTIC`` — not settled, no period, mostly reversing direction in the late half of the run
   (rule 5's measure over the record windows that start at half the run or later,
   ``late_oscillation``, at least ``oscillation_threshold``), and *steady*: the largest loss
   over the windows that start in the last quarter of the run is within ``steady_rtol`` of
   that over the third quarter (bounded, neither descending nor growing). This needs at least
   four record windows; with fewer, no trajectory is labelled CHAOTIC. Judging the reversals
   over the late half, where the envelope is judged, keeps a run that bounced in an early
   transient and then slides slowly and smoothly (a narrow valley's floor at
   :math:`\eta\kappa` just above 1) from counting as chaos.
5. ``OSCILLATORY`` if successive steps mostly reverse direction (bouncing across the valley),
   else ``MONOTONE``. The measure (``oscillation``) is the share of
   :math:`\sum_t |\Delta x_t \cdot \Delta x_{t-1}|` contributed by pairs with
   :math:`\Delta x_t \cdot \Delta x_{t-1} < 0`, and the label is OSCILLATORY from
   ``oscillation_threshold`` (one half) up. Weighting each pair by the product of its steps
   judges a run by the part where it moves measurably: a zig-zag that reaches machine zero in
   ten steps is OSCILLATORY by those steps, not MONOTONE by its frozen end, and the wall-to-wall
   steps of a valley outweigh the many short steps along its floor. On a quadratic of one
   curvature started at rest, where the steps shrink geometrically, the label therefore changes
   where the second step starts to reverse the first (flatter directions that also move push
   it to somewhat larger rates): at :math:`\eta\lambda = 1` for gradient descent,
   :math:`1 + \beta` for heavy-ball momentum and :math:`(1 + \beta + \beta^2)/(1 + \beta)^2`
   for Nesterov's (:mod:`lrscape.theory`). At heavy ball's edge its damped spiral turns by a
   quarter turn per step, and there the product weighting gives one half whatever the spiral's
   phase. Weighting by step length alone did not: it speckled phase diagrams around that edge,
   and in the narrow valley it moved gradient descent's to about :math:`\eta\lambda = 1.5`.

With noisy gradients (a stochastic landscape, or ``gradient_noise``) a trajectory never settles
on a cycle and its fluctuation is noise, not chaos: rules 3 and 4 do not apply. Nor does rule 5's
measure tell bouncing from noise there: once a run reaches its noise floor its successive steps
are anticorrelated at every rate, so reversing pairs carry more than half the weight even at
tiny rates. An unsettled noisy trajectory is instead labelled by the correlation of its
successive steps over the late half of the run (``step_correlation``),

.. math::

    \rho = \frac{\sum_t \Delta x_t \cdot \Delta x_{t-1}}
                 {\sqrt{\sum_t |\Delta x_t|^2 \sum_t |\Delta x_{t-1}|^2}} :

``OSCILLATORY`` when :math:`\rho \le` ``noisy_correlation`` (:math:`-1/2`), else
``MONOTONE``. On a quadratic of curvature :math:`\lambda` with additive gradient noise, gradient
descent's stationary steps have :math:`\rho = -\eta\lambda/2`, so the label changes at
:math:`\eta\lambda = 1`, where it changes without noise; a run still descending has
:math:`\rho > 0`. (Without noise, :math:`\rho` of a zig-zag that decays geometrically is
:math:`\pm 1` by its sign alone, and rule 5 weighs it as before.)
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

import jax.numpy as jnp
import numpy as np

from ._fields import require_int, require_positive, require_real


class Regime(enum.IntEnum):
    """The six regimes of a trajectory; stored as ``int8`` with CF ``flag_values``.

    :data:`DISPLAY_ORDER` lists them from the calmest to the wildest, as legends do.
    """

    MONOTONE = 0
    """Smooth descent: successive steps keep their direction."""
    OSCILLATORY = 1
    """Bouncing across the valley (successive steps reverse) while descending or settling."""
    PERIODIC = 2
    """Settled on a cycle of period >= 2 (``period`` holds it), not on a fixed point."""
    CHAOTIC = 3
    """Bounded, not settled, no period up to the detector's maximum."""
    DIVERGED = 4
    """The loss became non-finite or passed the divergence threshold, or ended above its start
    and still growing."""
    RINGING = 5
    """Settling like an underdamped spring: the iterate overshoots its attractor and swings
    back, again and again, turning by less than a quarter turn per step (momentum's complex
    roots); faster turns are OSCILLATORY. Numbered last so that stores written before it
    keep their codes."""

    @classmethod
    def flag_attrs(cls) -> dict[str, Any]:
        """CF-convention attributes for a variable holding regimes."""
        return {
            "flag_values": np.array([r.value for r in cls], dtype=np.int8),
            "flag_meanings": " ".join(r.name.lower() for r in cls),
        }


#: The regimes from the calmest to the wildest: the order of legends and colour bars.
DISPLAY_ORDER = (Regime.MONOTONE, Regime.RINGING, Regime.OSCILLATORY, Regime.PERIODIC,
                 Regime.CHAOTIC, Regime.DIVERGED)

#: The ``regime`` of a trajectory that an incomplete store does not hold (its sweep was stopped
#: before its chunk was written): not a regime, so not a member of :class:`Regime`.
NOT_COMPUTED = -1


@dataclasses.dataclass(frozen=True)
class Thresholds:
    r"""Every threshold of the classifier, with its default.

    Attributes:
        divergence_ratio: diverged once the loss exceeds this multiple of
            ``max(|initial loss|, divergence_floor)`` (or is non-finite).
        divergence_floor: keeps the divergence limit positive when the start is a minimum.
        converged_tol: converged when the last step is at most this fraction of the first.
        oscillation_threshold: the share of the step-pair weight
            :math:`\sum_t |\Delta x_t \cdot \Delta x_{t-1}|` on reversing pairs from which a
            trajectory counts as OSCILLATORY (and may count as CHAOTIC).
        max_period: the longest cycle the detector looks for; the ring buffer holds
            ``2 * max_period`` steps.
        period_rtol: two states of the tail are "the same" when loss and projection agree to
            this fraction of their largest magnitude over the tail.
        steady_rtol: the late loss envelope counts as steady (neither descending nor growing)
            when the last quarter's maximum is within this fraction of the third quarter's
            (quarters of the run, counted in record windows).
        growing_change: a noiseless run that ends above its initial loss is DIVERGED (still
            growing) when the last quarter's largest loss exceeds the third quarter's by this
            fraction (1: it doubled).
        noisy_correlation: on noisy runs, an unsettled trajectory is OSCILLATORY when the
            correlation of its successive steps over the late half is at most this (in
            [-1, 0]); -1/2 is :math:`\eta\lambda = 1` on a quadratic with gradient noise.
    """

    divergence_ratio: float = 1e6
    divergence_floor: float = 1e-12
    converged_tol: float = 1e-5
    oscillation_threshold: float = 0.5
    max_period: int = 16
    period_rtol: float = 1e-4
    steady_rtol: float = 1e-2
    growing_change: float = 1.0
    noisy_correlation: float = -0.5

    def __post_init__(self) -> None:
        for name in ("divergence_ratio", "divergence_floor", "converged_tol", "period_rtol",
                     "steady_rtol", "growing_change"):
            require_positive(name, getattr(self, name))
        require_real("noisy_correlation", self.noisy_correlation, "a number in [-1, 0]",
                     lambda v: -1 <= v <= 0)
        require_real("oscillation_threshold", self.oscillation_threshold, "in (0, 1]",
                     lambda v: 0 < v <= 1)
        require_int("max_period", self.max_period, 2)

    @property
    def buffer_size(self) -> int:
        return 2 * self.max_period


def detect_period(ring: jnp.ndarray, rtol: float, max_period: int) -> jnp.ndarray:
    """The smallest ``p`` in ``1..max_period`` for which the tail repeats with period ``p``.

    ``ring`` has shape ``(B, C)``: the last ``B`` steps in time order, ``C`` scalar channels
    each. Period ``p`` holds when ``ring[j] == ring[j + p]`` within ``rtol`` times each
    channel's largest magnitude, for every ``j``. Returns 0 when no ``p`` holds.
    """
    scale = jnp.max(jnp.abs(ring), axis=0) + 1e-30
    tol = rtol * scale
    size = ring.shape[0]
    period = jnp.zeros((), jnp.int32)
    for p in range(max_period, 0, -1):  # the smallest period wins
        repeats = jnp.all(jnp.abs(ring[p:] - ring[: size - p]) <= tol)
        period = jnp.where(repeats, p, period)
    return period


def classify(
    *,
    diverged: Any,
    converged: Any,
    period: Any,
    oscillation: Any,
    late_oscillation: Any,
    late_change: Any,
    initial_loss: Any,
    final_loss: Any,
    thresholds: Thresholds,
    step_correlation: Any = None,
) -> Any:
    """The :class:`Regime` of each trajectory from its reduced statistics (see module doc).

    ``diverged``: the loss passed the divergence limit (or was not finite). ``step_correlation``:
    given on noisy runs (the gradients were noisy), which are never PERIODIC or CHAOTIC, nor
    DIVERGED for growing, and whose unsettled trajectories it labels.
    """
    if step_correlation is None:
        diverged = diverged | growing(late_change, initial_loss, final_loss, thresholds)
    settled = converged | (period == 1)
    bouncing = oscillation >= thresholds.oscillation_threshold
    bouncing_late = late_oscillation >= thresholds.oscillation_threshold  # False where NaN
    steady = jnp.abs(late_change) <= thresholds.steady_rtol
    approach = jnp.where(bouncing, Regime.OSCILLATORY, Regime.MONOTONE)
    if step_correlation is not None:  # NaN (a run of one record window): rule 5's measure
        unsettled = jnp.where(
            jnp.isnan(step_correlation), approach,
            jnp.where(step_correlation <= thresholds.noisy_correlation, Regime.OSCILLATORY,
                      Regime.MONOTONE))
    else:
        unsettled = jnp.where(
            period >= 2,
            Regime.PERIODIC,
            jnp.where(bouncing_late & steady, Regime.CHAOTIC, approach),
        )
    regime = jnp.where(diverged, Regime.DIVERGED, jnp.where(settled, approach, unsettled))
    return regime.astype(jnp.int8)


def growing(late_change: Any, initial_loss: Any, final_loss: Any, thresholds: Thresholds) -> Any:
    """Whether each run ended above its initial loss with its late envelope still growing by
    ``growing_change`` or more (rule 1's second half); False where either is NaN."""
    start = jnp.maximum(jnp.abs(initial_loss), thresholds.divergence_floor)
    return (late_change >= thresholds.growing_change) & (final_loss > start)


def converged(step_ratio: Any, diverged: Any, thresholds: Thresholds) -> Any:
    """Reached a fixed point: not diverged, and the last step at most ``converged_tol`` of the
    first (NumPy or JAX arrays alike)."""
    return ~diverged & (step_ratio <= thresholds.converged_tol)


def reclassify(ds: Any, **thresholds: Any) -> Any:
    """Relabel a sweep's Dataset with other thresholds, without re-running it.

    Period detection (``max_period``, ``period_rtol``) happens during the run and is kept; the
    other thresholds apply afresh. Returns a copy of ``ds`` with a new ``regime`` and
    ``converged``.
    """
    fixed = {"max_period", "period_rtol", "divergence_ratio", "divergence_floor"}
    if changed := sorted(fixed & set(thresholds)):
        raise ValueError(f"reclassify: {', '.join(changed)} act during the run; "
                         "re-run the sweep to change them")
    th = Thresholds(**thresholds)
    noisy = bool(ds.attrs.get("noisy", 0))
    for name in ("late_oscillation", *(("step_correlation",) if noisy else ())):
        if name not in ds:
            raise ValueError(f"reclassify: this Dataset has no `{name}` (a store written by "
                             "lrscape before 0.2.0); re-run the sweep to relabel it")
    diverged = np.asarray(ds["divergence_step"]) >= 0  # passed the limit; growing is relabelled
    settled = converged(np.asarray(ds["step_ratio"]), diverged, th)
    regime = classify(
        diverged=diverged, converged=settled, period=np.asarray(ds["period"]),
        oscillation=np.asarray(ds["oscillation"]),
        late_oscillation=np.asarray(ds["late_oscillation"]),
        late_change=np.asarray(ds["late_change"]), initial_loss=np.asarray(ds["initial_loss"]),
        final_loss=np.asarray(ds["final_loss"]), thresholds=th,
        step_correlation=np.asarray(ds["step_correlation"]) if noisy else None,
    )
    # an incomplete store's trajectories that were never computed stay so
    regime = np.where(np.asarray(ds["regime"]) == NOT_COMPUTED, NOT_COMPUTED, regime)
    out = ds.copy()
    out["regime"] = (ds["regime"].dims, regime.astype(np.int8), ds["regime"].attrs)
    out["converged"] = (ds["converged"].dims, settled, ds["converged"].attrs)
    return out
