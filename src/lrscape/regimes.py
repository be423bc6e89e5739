r"""What a trajectory did: the :class:`Regime` labels and the classifier that assigns them.

The classifier reads a handful of per-trajectory scalars that the sweep reduces inside its scan
(see :mod:`lrscape.record`); nothing per step is stored. It is a pure ``jax.numpy`` function, so
it runs inside the compiled sweep and equally on the NumPy arrays of a finished Dataset
(:func:`reclassify`), which lets thresholds be changed without re-running anything but period
detection.

A converging run is labelled by how it approaches its attractor, the way the linearisation
of the optimizer's map there moves: a positive real root settles smoothly (MONOTONE), a negative
one zig-zags (OSCILLATORY), a complex pair turning by less than a quarter turn per step rings
(RINGING). The statistics of the approach are in :mod:`lrscape.approach`;
docs/concepts/regimes.md shows one trajectory of each regime. The rules, in order:

1. ``DIVERGED`` — the loss became non-finite or passed ``divergence_ratio`` times the initial
   loss (the trajectory is frozen there; ``divergence_step`` says when); or the run ended
   *still growing*: above its initial loss, its late envelope (the largest loss over the
   record windows that start in the last quarter) at least ``1 + growing_change`` times that
   over the third quarter, and its window-mean loss never back below the start in the last
   quarter (``late_low``: a run that came down and ends on a spike is not diverging). A run
   that a short horizon stopped before the limit (gradient descent at
   :math:`\eta\lambda = 2.1`) is diverging, not bouncing; its ``divergence_step`` is -1.
   Noisy runs are not judged growing: their envelope fluctuates.
2. *settled* — ``converged`` (the last step at most ``converged_tol`` times the first) or the
   tail is constant (period 1): labelled by its approach, rule 5.
3. ``PERIODIC`` — the tail repeats with a period ``2 <= p <= max_period``, comparing the loss
   and a fixed random projection of the iterate (so ``x, -x, x, ...`` is found).
4. ``CHAOTIC`` — not settled, no period, *steady* (the last quarter's largest loss within
   ``steady_rtol`` of the third quarter's: bounded, neither descending nor growing) and still
   reversing (at least ``chaos_reversal`` of the late half's step-pair weight reverses,
   ``late_oscillation``). With a recorded Lyapunov exponent at most ``lyapunov_threshold``
   such a run is PERIODIC instead (``period`` 0: a cycle longer than ``max_period``). A
   bounded orbit that never settles is never MONOTONE; an unsettled run that is neither
   (still sliding or descending) is labelled by rule 5. Needs four record windows.
5. The approach (:mod:`lrscape.approach`): OSCILLATORY when the second differences of the
   measurable steps reverse over at least ``approach_threshold`` (half) of the approach's
   progress (``approach_reversal``), or its steps reversed two at a time over at least
   ``zigzag_nats`` of progress (``zigzag_progress``), or it keeps turning around
   (``ringing_reversals`` turn-arounds, to the end: ``quiet_stretch`` at most
   ``ringing_quiet``) with the whole run's product-weighted share ``oscillation`` at least
   ``oscillation_threshold`` (a spiral turning by more than a quarter turn per step, where that
   share crosses one half: heavy ball at :math:`\eta\lambda = 1 + \beta`, Nesterov at
   :math:`(1 + \beta + \beta^2)/(1 + \beta)^2`); with ``4 * ringing_reversals`` turn-arounds
   or more the quiet stretch is not asked for. RINGING when it keeps turning around otherwise
   (heavy ball from critical damping, :math:`(1 - \sqrt\beta)^2`). MONOTONE otherwise. A run
   with no measurable approach is labelled by ``oscillation`` alone.

Every label has a ``label_margin`` in [0, 1]: the distance of its deciding statistic from
that statistic's threshold (shares as a fraction of the way to 0 or 1, ratios in decades),
below ``borderline`` a borderline label.

With noisy gradients (a stochastic landscape, or ``gradient_noise``) a trajectory never settles
on a cycle and its fluctuation is noise, not chaos: rules 3 and 4 do not apply. Nor does rule 5's
measures tell bouncing from noise there: once a run reaches its noise floor its successive steps
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
:math:`\pm 1` by its sign alone, and rule 5 applies.)
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
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
        approach_threshold: a run zig-zags (OSCILLATORY) when reversing second differences
            made at least this share of its approach's progress (``approach_reversal``).
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
        measurable_ulps: a step shorter than this many units in the last place of the
            iterate (its norm times the dtype's epsilon) is rounding noise, not part of the
            approach (:mod:`lrscape.approach`).
        active_change: a step whose second differences are shorter than this fraction of the
            steps they join is a steady drift, not part of the approach.
        ringing_reversals: a run that turns around at least this many times in its
            approach, and keeps doing so to its end (``ringing_quiet``), and is not a zig-zag,
            is RINGING (one overshoot is not ringing).
        zigzag_nats: a run whose steps reversed two at a time while its motion died away by
            at least this many nats (``zigzag_progress``) zig-zags: OSCILLATORY.
        ringing_quiet: the largest share of the approach's progress after the last
            turn-around that still counts as ringing to the end; a transient that turned
            around on its way in and then settled smoothly has a larger one. Asked only of
            runs with fewer than ``4 * ringing_reversals`` turn-arounds.
        chaos_reversal: a bounded run that never settles is CHAOTIC (or, with a recorded
            Lyapunov exponent at most ``lyapunov_threshold``, PERIODIC) when at least this
            share of its late half's step-pair weight reverses; below, it is still sliding
            and is labelled by its approach.
        lyapunov_threshold: where the Lyapunov exponent is recorded, a bounded unsettled run
            is CHAOTIC only if its exponent per step exceeds this; a smaller one cannot be
            told from zero over a finite run, and the orbit is a cycle too long to detect.
        borderline: a label whose margin is below this is *borderline*; phase diagrams mark
            such cells (stored as the ``borderline`` attribute of ``label_margin``).
    """

    divergence_ratio: float = 1e6
    divergence_floor: float = 1e-12
    converged_tol: float = 1e-5
    oscillation_threshold: float = 0.5
    approach_threshold: float = 0.5
    max_period: int = 16
    period_rtol: float = 1e-4
    steady_rtol: float = 1e-2
    growing_change: float = 1.0
    noisy_correlation: float = -0.5
    measurable_ulps: float = 4.0
    active_change: float = 3e-3
    ringing_reversals: int = 2
    ringing_quiet: float = 0.75
    zigzag_nats: float = 1.0
    chaos_reversal: float = 0.1
    lyapunov_threshold: float = 0.01
    borderline: float = 0.1

    def __post_init__(self) -> None:
        for name in ("divergence_ratio", "divergence_floor", "converged_tol", "period_rtol",
                     "steady_rtol", "growing_change", "measurable_ulps", "active_change",
                     "lyapunov_threshold", "zigzag_nats"):
            require_positive(name, getattr(self, name))
        require_real("noisy_correlation", self.noisy_correlation, "a number in [-1, 0]",
                     lambda v: -1 <= v <= 0)
        for name in ("oscillation_threshold", "approach_threshold"):
            require_real(name, getattr(self, name), "in (0, 1]", lambda v: 0 < v <= 1)
        require_int("max_period", self.max_period, 2)
        require_int("ringing_reversals", self.ringing_reversals, 2)
        for name in ("chaos_reversal", "borderline", "ringing_quiet"):
            require_real(name, getattr(self, name), "in (0, 1)", lambda v: 0 < v < 1)

    @property
    def buffer_size(self) -> int:
        return 2 * self.max_period


def detect_period(ring: jnp.ndarray, rtol: float, max_period: int
                  ) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The smallest ``p`` in ``1..max_period`` for which the tail repeats with period ``p``,
    and how closely it repeats.

    ``ring`` has shape ``(B, C)``: the last ``B`` steps in time order, ``C`` scalar channels
    each. Period ``p`` holds when ``ring[j] == ring[j + p]`` within ``rtol`` times each
    channel's largest magnitude, for every ``j``. Returns the period (0 when no ``p`` holds)
    and the *mismatch* at that period: the largest deviation in units of the tolerance (at
    most 1; NaN where no period holds). The mismatch is measured once, at the period found:
    measuring it at every candidate made XLA keep every candidate's differences, eight
    times the chunk's temporaries.
    """
    scale = jnp.max(jnp.abs(ring), axis=0) + 1e-30
    tol = rtol * scale
    size = ring.shape[0]
    period = jnp.zeros((), jnp.int32)
    for p in range(max_period, 0, -1):  # the smallest period wins
        repeats = jnp.all(jnp.abs(ring[p:] - ring[: size - p]) <= tol)
        period = jnp.where(repeats, p, period)
    found = jnp.maximum(period, 1)
    later = jnp.roll(ring, -found, axis=0)  # ring[j + p] at j (wrapped past the end)
    overlap = (jnp.arange(size) < size - found)[:, None]
    worst = jnp.max(jnp.where(overlap, jnp.abs(later - ring), 0.0), axis=0)  # per channel
    mismatch = jnp.max(worst / tol)
    return period, jnp.where(period > 0, mismatch, jnp.nan)


def _share_margin(x: Any, threshold: float) -> Any:
    """How far a share in [0, 1] is from ``threshold``, as a fraction of the way to 0 or 1."""
    above = (x - threshold) / max(1.0 - threshold, 1e-12)
    below = (threshold - x) / max(threshold, 1e-12)
    return jnp.clip(jnp.where(x >= threshold, above, below), 0.0, 1.0)


def _ratio_margin(x: Any, threshold: float) -> Any:
    """How far a positive quantity is from ``threshold``, in decades (one decade: 1)."""
    ratio = jnp.maximum(jnp.abs(x), 1e-300) / threshold
    return jnp.clip(jnp.abs(jnp.log10(ratio)), 0.0, 1.0)


def _count_margin(count: Any, threshold: int) -> Any:
    """How far a count is from ``threshold`` (at least it: one side), relative to it."""
    middle = threshold - 0.5
    return jnp.clip(jnp.abs(count - middle) / middle, 0.0, 1.0)


def _approach(stats: Mapping[str, Any], th: Thresholds) -> tuple[Any, Any]:
    """Rule 5: how a run approaches its attractor, and the margin of that label."""
    share = stats["approach_reversal"]
    whole = stats["oscillation"]
    reversals = stats["reversals"]
    known = ~jnp.isnan(share)
    # turned around again and again: many times, or a few times to the end of the measurable
    # motion (a transient turns around once or twice on its way in, then settles quietly; a
    # spiral that dies before a slower smooth direction does may end quiet, but after many)
    quiet = stats["quiet_stretch"]
    many = reversals >= 4 * th.ringing_reversals
    again = (reversals >= th.ringing_reversals) & ((quiet <= th.ringing_quiet) | many)
    by_share = known & (share >= th.approach_threshold)
    by_whole = again & (whole >= th.oscillation_threshold)
    by_zigzag = stats["zigzag_progress"] >= th.zigzag_nats
    # a run whose measurable steps made no progress (nothing to see near the attractor, or a
    # run too short): the whole run's share decides, as it always did
    seen = known | again | by_zigzag
    zigzag = jnp.where(seen, by_share | by_whole | by_zigzag, whole >= th.oscillation_threshold)
    ringing = ~zigzag & again
    regime = jnp.where(zigzag, Regime.OSCILLATORY,
                       jnp.where(ringing, Regime.RINGING, Regime.MONOTONE))
    m_share = jnp.where(known, _share_margin(jnp.nan_to_num(share), th.approach_threshold), 1.0)
    m_whole = _share_margin(whole, th.oscillation_threshold)
    m_quiet = jnp.where(jnp.isnan(quiet) | many, 1.0,
                        _share_margin(jnp.nan_to_num(quiet), th.ringing_quiet))
    m_count = jnp.minimum(_count_margin(reversals, th.ringing_reversals), m_quiet)
    m_zigzag = jnp.clip(jnp.abs(stats["zigzag_progress"] - th.zigzag_nats) / th.zigzag_nats,
                        0.0, 1.0)
    margin_zigzag = jnp.maximum(jnp.maximum(
        jnp.where(by_share, m_share, 0.0),
        jnp.where(by_whole, jnp.minimum(m_whole, m_count), 0.0)),
        jnp.where(by_zigzag, m_zigzag, 0.0))
    margin_ringing = jnp.minimum(jnp.minimum(jnp.minimum(m_share, m_whole), m_count), m_zigzag)
    margin_monotone = jnp.where(known, jnp.minimum(jnp.minimum(m_share, m_count), m_zigzag),
                                m_whole)
    margin = jnp.where(zigzag, jnp.where(seen, margin_zigzag, m_whole),
                       jnp.where(ringing, margin_ringing, margin_monotone))
    return regime, margin


def _bounded(stats: Mapping[str, Any], th: Thresholds) -> tuple[Any, Any, Any]:
    """Rules 3-4 for a noiseless run that did not settle: (applies, regime, margin)."""
    period, mismatch = stats["period"], stats["period_mismatch"]
    late_change, late = stats["late_change"], stats["late_oscillation"]
    steady = jnp.abs(late_change) <= th.steady_rtol
    moving = late >= th.chaos_reversal  # False where NaN: fewer than four record windows
    m_steady = _ratio_margin(late_change, th.steady_rtol)
    m_moving = _share_margin(jnp.nan_to_num(late), th.chaos_reversal)
    m_period = _ratio_margin(jnp.nan_to_num(mismatch, nan=1.0), 1.0)
    chaotic_margin = jnp.minimum(m_steady, m_moving)
    regime = jnp.full(jnp.shape(period), Regime.CHAOTIC)
    lyapunov = stats.get("lyapunov")
    if lyapunov is not None:  # bounded and not chaotic: a cycle too long to detect
        positive = lyapunov > th.lyapunov_threshold
        m_lyapunov = jnp.clip(jnp.abs(lyapunov - th.lyapunov_threshold)
                              / th.lyapunov_threshold, 0.0, 1.0)
        regime = jnp.where(positive | jnp.isnan(lyapunov), Regime.CHAOTIC, Regime.PERIODIC)
        chaotic_margin = jnp.where(jnp.isnan(lyapunov), chaotic_margin,
                                   jnp.minimum(chaotic_margin, m_lyapunov))
    cycle = period >= 2
    applies = cycle | (steady & moving)
    regime = jnp.where(cycle, Regime.PERIODIC, regime)
    margin = jnp.where(cycle, m_period, chaotic_margin)
    return applies, regime, margin


def _noiseless(stats: Mapping[str, Any], th: Thresholds) -> tuple[tuple[Any, Any], ...]:
    """(label, margin) of a noiseless run: settled (rule 5), unsettled (rules 3-5), growing."""
    approach = _approach(stats, th)
    bounded, orbit, orbit_margin = _bounded(stats, th)
    unsettled = (jnp.where(bounded, orbit, approach[0]),
                 jnp.where(bounded, orbit_margin, approach[1]))
    return approach, unsettled, growing(stats, th)


def _noisy(stats: Mapping[str, Any], th: Thresholds) -> tuple[tuple[Any, Any], ...]:
    """(label, margin) of a noisy run: settled by the whole run's share, unsettled by the
    step correlation (the share where it is NaN), never growing."""
    whole = stats["oscillation"]
    by_share = jnp.where(whole >= th.oscillation_threshold, Regime.OSCILLATORY, Regime.MONOTONE)
    share_margin = _share_margin(whole, th.oscillation_threshold)
    rho = stats["step_correlation"]
    by_rho = jnp.where(rho <= th.noisy_correlation, Regime.OSCILLATORY, Regime.MONOTONE)
    rho_margin = jnp.clip(jnp.abs(rho - th.noisy_correlation)
                          / max(1.0 + th.noisy_correlation, 1e-12), 0.0, 1.0)
    unsettled = (jnp.where(jnp.isnan(rho), by_share, by_rho),
                 jnp.where(jnp.isnan(rho), share_margin, rho_margin))
    never = jnp.zeros(jnp.shape(whole), bool)
    return (by_share, share_margin), unsettled, (never, jnp.zeros(jnp.shape(whole)))


def classify(stats: Mapping[str, Any], thresholds: Thresholds, *, noisy: bool = False,
             ) -> tuple[Any, Any]:
    """The :class:`Regime` of each trajectory and the margin of its label (module doc).

    ``stats`` maps the names of the sweep's per-trajectory variables to arrays (JAX or
    NumPy): ``diverged`` (the loss passed the divergence limit), ``converged``, ``period``,
    ``period_mismatch``, ``oscillation``, ``late_oscillation``, ``late_change``,
    ``late_low``, ``initial_loss``, ``final_loss``, ``approach_reversal``, ``reversals``,
    ``quiet_stretch``, ``zigzag_progress``, and where recorded ``lyapunov``; on ``noisy``
    runs also ``step_correlation``, which labels them (they are never PERIODIC or CHAOTIC,
    nor DIVERGED for growing). The margin is 0 on the deciding threshold and 1 a clear
    distance away.
    """
    th = thresholds
    labels = _noisy(stats, th) if noisy else _noiseless(stats, th)
    (approach, approach_margin), (unsettled, unsettled_margin), (grow, grow_margin) = labels
    settled = stats["converged"] | (stats["period"] == 1)
    regime = jnp.where(settled, approach, unsettled)
    margin = jnp.where(settled, approach_margin, unsettled_margin)
    diverged = stats["diverged"]
    regime = jnp.where(diverged | grow, Regime.DIVERGED, regime)
    margin = jnp.where(diverged, 1.0, jnp.where(grow, grow_margin, margin))
    return regime.astype(jnp.int8), margin.astype(jnp.float32)


def growing(stats: Mapping[str, Any], thresholds: Thresholds) -> tuple[Any, Any]:
    """Rule 1's second half: whether each run ended above its initial loss with its late
    envelope still growing by ``growing_change`` or more, and never back below its start in the
    last quarter (a run that spikes at its end after coming down is not diverging); False where
    any of these is NaN. Returns it and the margin of that decision."""
    th = thresholds
    start = jnp.maximum(jnp.abs(stats["initial_loss"]), th.divergence_floor)
    late_change = stats["late_change"]
    final, low = stats["final_loss"], stats["late_low"]
    grows = (late_change >= th.growing_change) & (final > start) & (low > start)
    margin = jnp.minimum(jnp.minimum(
        _ratio_margin(1.0 + jnp.maximum(late_change, -0.999), 1.0 + th.growing_change),
        _ratio_margin(final / start, 1.0)), _ratio_margin(low / start, 1.0))
    return grows, margin


def converged(step_ratio: Any, diverged: Any, thresholds: Thresholds) -> Any:
    """Reached a fixed point: not diverged, and the last step at most ``converged_tol`` of the
    first (NumPy or JAX arrays alike)."""
    return ~diverged & (step_ratio <= thresholds.converged_tol)


def _swept_with(ds: Any) -> dict[str, Any]:
    """The thresholds a sweep ran with, from its attributes (those this version knows)."""
    try:
        stored = json.loads(ds.attrs.get("thresholds", "{}"))
    except (TypeError, ValueError):
        return {}
    known = {f.name for f in dataclasses.fields(Thresholds)}
    return {k: v for k, v in stored.items() if k in known} if isinstance(stored, dict) else {}


#: What :func:`reclassify` reads from a Dataset, besides ``divergence_step`` and ``step_ratio``.
_RECLASSIFY_NEEDS = ("period", "period_mismatch", "oscillation", "late_oscillation",
                     "late_change", "late_low", "initial_loss", "final_loss",
                     "approach_reversal", "reversals", "quiet_stretch", "zigzag_progress")


def reclassify(ds: Any, **thresholds: Any) -> Any:
    """Relabel a sweep's Dataset with other thresholds, without re-running it.

    Period detection (``max_period``, ``period_rtol``) and the approach statistics
    (``measurable_ulps``, ``active_change``) happen during the run and are kept; the other
    thresholds apply afresh. Thresholds not given are the sweep's own (``ds.attrs
    ["thresholds"]``), else the defaults. Returns a copy of ``ds`` with a new ``regime``,
    ``converged`` and ``label_margin``.
    """
    fixed = {"max_period", "period_rtol", "divergence_ratio", "divergence_floor",
             "measurable_ulps", "active_change"}
    if changed := sorted(fixed & set(thresholds)):
        raise ValueError(f"reclassify: {', '.join(changed)} act during the run; "
                         "re-run the sweep to change them")
    th = Thresholds(**{**_swept_with(ds), **thresholds})
    noisy = bool(ds.attrs.get("noisy", 0))
    for name in (*_RECLASSIFY_NEEDS, *(("step_correlation",) if noisy else ())):
        if name not in ds:
            raise ValueError(f"reclassify: this Dataset has no `{name}` (a store written by "
                             "an older lrscape); re-run the sweep to relabel it")
    diverged = np.asarray(ds["divergence_step"]) >= 0  # passed the limit; growing is relabelled
    stats = {name: np.asarray(ds[name]) for name in _RECLASSIFY_NEEDS}
    stats["diverged"] = diverged
    stats["converged"] = converged(np.asarray(ds["step_ratio"]), diverged, th)
    for name in ("step_correlation", "lyapunov"):
        if name in ds and (name != "step_correlation" or noisy):
            stats[name] = np.asarray(ds[name])
    regime, margin = classify(stats, th, noisy=noisy)
    # an incomplete store's trajectories that were never computed stay so
    missing = np.asarray(ds["regime"]) == NOT_COMPUTED
    regime = np.where(missing, NOT_COMPUTED, np.asarray(regime))
    out = ds.copy()
    out["regime"] = (ds["regime"].dims, regime.astype(np.int8), ds["regime"].attrs)
    out["converged"] = (ds["converged"].dims, stats["converged"], ds["converged"].attrs)
    attrs = {**ds["label_margin"].attrs, "borderline": th.borderline} if "label_margin" in ds \
        else {"borderline": th.borderline}
    out["label_margin"] = (ds["regime"].dims, np.where(missing, np.nan, np.asarray(margin)),
                           attrs)
    return out
