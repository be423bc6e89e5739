"""A vectorised NumPy implementation of the benchmarks' work, for comparison with lrscape.

``run_valley_momentum``: heavy-ball momentum on the 2-D narrow valley, one trajectory per grid
point, every trajectory advanced together with NumPy array operations (a Python loop over steps
only). It does what the lrscape sweep does per step: loss and gradient, the momentum update,
divergence detection with freezing, the weight of direction reversals, the late loss
envelope, window sums and records every ``record_every`` steps, a ring buffer over the tail for
period detection, and the same classification at the end. Arrays are updated in place where
NumPy allows, as a careful NumPy programmer would write it.

``run_momentum``: the same per-step work and classification on any landscape given as a
vectorised loss and gradient over a (trajectories, dim) batch, here the 1,000-dimensional rugged
quadratic (``rugged_loss_and_grad``: its gradient by hand, two matrix products per step).
"""

from __future__ import annotations

import numpy as np

from lrscape.regimes import Thresholds, classify

MONOTONE, OSCILLATORY, PERIODIC, CHAOTIC, DIVERGED = range(5)


class _Tracker:
    """What both runs keep per trajectory besides the dynamics, as the sweep's tracker does:
    divergence, the weight of reversals, window sums and maxima, records, the late loss
    envelope and the tail ring buffer for period detection."""

    def __init__(self, loss0, first_step, *, steps, record_every, max_period,
                 divergence_ratio, dim, dtype):
        n = loss0.shape[0]
        self.steps, self.every, self.dtype = steps, record_every, dtype
        self.start = np.maximum(np.abs(loss0), 1e-12)
        self.limit = divergence_ratio * self.start
        self.first_step = first_step
        self.diverged = np.zeros(n, bool)
        self.alive_steps = np.zeros(n, dtype)
        self.pair_weight = np.zeros(n, dtype)
        self.reversed_weight = np.zeros(n, dtype)
        self.early_pair_weight = np.zeros(n, dtype)  # the weights before the late half
        self.early_reversed_weight = np.zeros(n, dtype)
        self.peak = loss0.copy()
        self.q3 = np.full(n, -np.inf, dtype)
        self.q4 = np.full(n, -np.inf, dtype)
        self.size = 2 * max_period
        self.ring = np.zeros((self.size, 2, n), dtype)
        r = np.random.default_rng(20260101).standard_normal(dim)
        self.direction = (r / np.sqrt(np.sum(r * r))).astype(dtype)
        n_windows = steps // record_every
        self.loss_last = np.empty((n_windows, n), dtype)
        self.loss_mean = np.empty((n_windows, n), dtype)
        self.tail_start = steps - min(steps, -(-self.size // record_every) * record_every)
        self.neg_inf, self.zero = dtype(-np.inf), dtype(0)
        # the approach statistics (lrscape.approach): the last step's square and pair
        self.s1, self.p1 = np.zeros(n, dtype), np.zeros(n, dtype)
        self.last_active = np.zeros(n, bool)
        self.last_reversed = np.zeros(n, bool)
        self.zigzag_progress = np.zeros(n, dtype)
        self.low = np.full(n, np.inf, dtype)
        self.reversed_progress, self.progress = np.zeros(n, dtype), np.zeros(n, dtype)
        self.progress_at_turn = np.zeros(n, dtype)
        self.reversals = np.zeros(n, np.int32)
        self.noise_square = np.zeros(n, dtype)
        self.q4_low = np.full(n, np.inf, dtype)
        self.eps = np.finfo(dtype).eps

    def open_window(self):
        n = self.diverged.shape[0]
        self.wsum = np.zeros(n, self.dtype)
        self.wmax = np.full(n, -np.inf, self.dtype)
        self.wstart = self.alive_steps.copy()

    def set_scale(self, norm_square):
        """The iterate's squared norm: steps below 4 of its ulps are rounding noise."""
        ulp = 4.0 * self.eps
        self.noise_square = np.where(np.isfinite(norm_square), ulp * ulp * norm_square,
                                     self.noise_square).astype(self.dtype)

    def _approach(self, t, alive, sq, pair, across):
        """The approach statistics of lrscape.approach, for all trajectories at once."""
        s1, p1 = self.s1, self.p1
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            energy = sq + s1
            d_square = sq - 2 * pair + s1
            active = (d_square > 9e-6 * energy) & (d_square > self.noise_square)
            d_pair = pair - across - s1 + p1
            measurable = alive & (t >= 2) & (sq > self.noise_square) & active & self.last_active
            gain = np.where(measurable & (energy < self.low) & np.isfinite(self.low),
                            0.5 * np.log(self.low / np.maximum(energy, 1e-38)), 0)
        reversed_now = measurable & (pair < 0)
        turned = reversed_now | (measurable & (d_pair < 0))
        self.zigzag_progress += np.where(reversed_now & self.last_reversed, gain,
                                         0).astype(self.dtype)
        self.last_reversed = reversed_now
        self.low = np.where(measurable, np.minimum(self.low, energy), self.low)
        self.reversed_progress += np.where(d_pair < 0, gain, 0).astype(self.dtype)
        self.progress += gain.astype(self.dtype)
        self.progress_at_turn = np.where(turned, self.progress, self.progress_at_turn)
        self.reversals += turned
        self.s1, self.p1, self.last_active = sq, pair, active

    def observe(self, t, loss, sq, pair, projection, across):
        """Fold in step ``t``: its loss, the squared length of its update, the update's dot
        product with the last one, a function giving the iterate's projection on
        ``direction`` (called in the tail only), and the update's dot product with the one
        before the last. Returns which trajectories are alive."""
        zero = self.zero
        self.diverged |= ~(loss <= self.limit) | ~(sq < np.inf)
        alive = ~self.diverged
        pair = np.where(alive, pair, zero)
        self._approach(t, alive, sq, pair, across)
        self.alive_steps += alive
        self.pair_weight += np.abs(pair)
        self.reversed_weight += np.maximum(-pair, zero)
        np.maximum(self.wmax, np.where(alive, loss, self.neg_inf), out=self.wmax)
        self.wsum += np.where(alive, loss, zero)
        if t >= self.tail_start:
            self.ring[t % self.size, 0] = np.where(alive, loss, zero)
            self.ring[t % self.size, 1] = np.where(alive, projection(), zero)
        return alive

    def close_window(self, w, loss):
        self.loss_last[w] = np.where(self.diverged, np.nan, loss)
        count = self.alive_steps - self.wstart
        with np.errstate(invalid="ignore", divide="ignore"):
            self.loss_mean[w] = np.where(count > 0, self.wsum / np.maximum(count, 1), np.nan)
        np.maximum(self.peak, self.wmax, out=self.peak)
        first = w * self.every
        if first < self.steps // 2 <= first + self.every:  # the late half starts next
            self.early_pair_weight, self.pair_weight = self.pair_weight, np.zeros_like(
                self.pair_weight)
            self.early_reversed_weight, self.reversed_weight = self.reversed_weight, np.zeros_like(
                self.reversed_weight)
        if self.steps // 2 <= first < 3 * self.steps // 4:
            np.maximum(self.q3, self.wmax, out=self.q3)
        elif first >= 3 * self.steps // 4:
            np.maximum(self.q4, self.wmax, out=self.q4)
            ok = (count > 0) & ~self.diverged
            self.q4_low = np.where(ok, np.minimum(self.q4_low, self.loss_mean[w]), self.q4_low)

    def finish(self, final_loss, last_step, **thresholds):
        self.diverged |= ~(final_loss <= self.limit)
        out = _summarise(self.ring, self.steps, self.size, self.diverged, self.first_step,
                         last_step, (self.early_pair_weight, self.pair_weight),
                         (self.early_reversed_weight, self.reversed_weight), self.q3, self.q4,
                         self, final_loss, every=self.every, **thresholds)
        return {**out, "final_loss": final_loss, "loss_last": self.loss_last.T,
                "loss_mean": self.loss_mean.T}


def run_valley_momentum(
    lr: np.ndarray,
    beta: np.ndarray,
    *,
    steps: int,
    record_every: int,
    wall_curvature: float = 100.0,
    floor_slope: float = 0.1,
    floor_width: float = 1.0,
    wall_growth: float = 0.0,
    start: float = 10.0,
    wall_offset: float = 1.0,
    max_period: int = 16,
    divergence_ratio: float = 1e6,
    converged_tol: float = 1e-5,
    oscillation_threshold: float = 0.5,
    period_rtol: float = 1e-4,
    steady_rtol: float = 1e-2,
    growing_change: float = 1.0,
    dtype: type = np.float32,
) -> dict[str, np.ndarray]:
    n = lr.shape[0]
    lr = lr.astype(dtype)
    beta = beta.astype(dtype)
    x0 = np.full(n, start, dtype)
    x1 = np.full(n, wall_offset, dtype)
    v0 = np.zeros(n, dtype)
    v1 = np.zeros(n, dtype)
    p0 = np.zeros(n, dtype)
    p1 = np.zeros(n, dtype)
    q0 = np.zeros(n, dtype)  # the update before the last
    q1 = np.zeros(n, dtype)
    s, d2, g = dtype(floor_slope), dtype(floor_width**2), dtype(wall_growth)

    def loss_and_grad(x0, x1):
        root = np.sqrt(x0 * x0 + d2)
        kappa = wall_curvature * np.exp(g * (start - x0))
        half_wall = 0.5 * kappa * x1 * x1
        loss = s * (root - floor_width) + half_wall
        g0 = s * x0 / root - g * half_wall
        g1 = kappa * x1
        return loss, g0, g1

    loss0, g0, g1 = loss_and_grad(x0, x1)
    first_step = np.sqrt((lr * g0) ** 2 + (lr * g1) ** 2)  # the first update is -lr * g
    log = _Tracker(loss0, first_step, steps=steps, record_every=record_every,
                   max_period=max_period, divergence_ratio=divergence_ratio, dim=2,
                   dtype=dtype)
    log.set_scale(x0 * x0 + x1 * x1)
    r = log.direction

    for w in range(steps // record_every):
        log.open_window()
        for i in range(record_every):
            t = w * record_every + i
            loss, g0, g1 = loss_and_grad(x0, x1)
            v0 = g0 + beta * v0
            v1 = g1 + beta * v1
            u0 = -lr * v0
            u1 = -lr * v1
            alive = log.observe(t, loss, u0 * u0 + u1 * u1, u0 * p0 + u1 * p1,
                                lambda: r[0] * x0 + r[1] * x1,  # noqa: B023 - called now
                                u0 * q0 + u1 * q1)
            q0, q1 = p0, p1
            p0, p1 = u0, u1
            np.copyto(x0, x0 + u0, where=alive)
            np.copyto(x1, x1 + u1, where=alive)
        log.close_window(w, loss)
        log.set_scale(x0 * x0 + x1 * x1)

    final_loss, _, _ = loss_and_grad(x0, x1)
    return log.finish(final_loss, np.sqrt(p0 * p0 + p1 * p1), max_period=max_period,
                      converged_tol=converged_tol, oscillation_threshold=oscillation_threshold,
                      period_rtol=period_rtol, steady_rtol=steady_rtol,
                      growing_change=growing_change)


def _summarise(ring, steps, size, diverged, first_step, last_step, pair_weight, reversed_weight,
               q3, q4, log, final_loss, *, every, max_period, converged_tol,
               oscillation_threshold, period_rtol, steady_rtol, growing_change):
    """Period detection on the tail ring buffer and the statistics the classifier reads
    (shared by both runs); the rule set itself is lrscape's own ``regimes.classify``.

    ``pair_weight`` and ``reversed_weight`` are pairs (before the late half, over it)."""
    n = diverged.shape[0]
    ordered = np.roll(ring, -(steps % size), axis=0) if steps >= size else ring[:steps]
    scale = np.max(np.abs(ordered), axis=0) + 1e-30
    period = np.zeros(n, np.int32)
    tol = period_rtol * scale
    for p in range(max_period, 0, -1):
        repeats = np.all(np.abs(ordered[p:] - ordered[: ordered.shape[0] - p]) <= tol,
                         axis=(0, 1))
        period[repeats] = p
    mismatch = np.full(n, np.nan)
    for p in np.unique(period[period > 0]):  # the deviation at the period found
        at = period == p
        worst = np.max(np.abs(ordered[p:, :, at] - ordered[: ordered.shape[0] - p, :, at]),
                       axis=0)
        mismatch[at] = np.max(worst / tol[:, at], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        step_ratio = np.where(first_step > 0, last_step / np.maximum(first_step, 1e-38), 0)
        oscillation = _share(sum(reversed_weight), sum(pair_weight))
        late_oscillation = (_share(reversed_weight[1], pair_weight[1]) if steps // every >= 2
                            else np.full(n, np.nan))
        late = np.where(np.isfinite(q3) & np.isfinite(q4),
                        (q4 - q3) / np.maximum(np.abs(q3), 1e-30), np.nan)
        share = np.where(log.progress > 0, log.reversed_progress / log.progress, np.nan)
    converged = ~diverged & (step_ratio <= converged_tol)
    period = np.where(diverged, 0, np.where(converged, 1, period))
    stats = {"diverged": diverged, "converged": converged, "period": period,
             "period_mismatch": mismatch,
             "oscillation": oscillation, "late_oscillation": late_oscillation,
             "late_change": late, "late_low": np.where(np.isfinite(log.q4_low), log.q4_low,
                                                       np.nan),
             "initial_loss": log.start, "final_loss": np.where(diverged, np.nan, final_loss),
             "approach_reversal": share, "reversals": log.reversals,
             "quiet_stretch": _quiet_stretch(log), "zigzag_progress": log.zigzag_progress}
    thresholds = Thresholds(max_period=max_period, converged_tol=converged_tol,
                            oscillation_threshold=oscillation_threshold,
                            period_rtol=period_rtol, steady_rtol=steady_rtol,
                            growing_change=growing_change)
    regime, _ = classify(stats, thresholds)
    return {"regime": np.asarray(regime).astype(np.int8), "period": period,
            "oscillation": oscillation, "late_oscillation": late_oscillation}


def _quiet_stretch(log):
    """The share of the approach's progress made after its last turn-around."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((log.reversals >= 2) & (log.progress > 0),
                        (log.progress - log.progress_at_turn) / log.progress, np.nan)


def _share(reversed_weight, pair_weight):
    """The share of the step-pair weight on reversing pairs (0 where nothing moved)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pair_weight > 0, np.clip(reversed_weight / pair_weight, 0, 1), 0)


def rugged_loss_and_grad(curvature, amplitude, frequency, directions, phases,
                         dtype: type = np.float32):
    """The rugged quadratic's loss and gradient on a batch ``x`` of shape (trajectories, dim):

    f(x) = c |x|^2 / 2 + A sqrt(2/M) sum_j cos(omega w_j.x + phi_j),
    grad = c x - A sqrt(2/M) omega sum_j sin(omega w_j.x + phi_j) w_j.

    The landscape keeps ``directions`` and ``phases`` in float64; this computes with them
    in ``dtype``, the run's (float32, a sweep's default).
    """
    directions, phases = directions.astype(dtype), phases.astype(dtype)
    scale = amplitude * np.sqrt(2.0 / directions.shape[0])
    w_t = np.ascontiguousarray(directions.T)

    def loss_and_grad(x):
        angles = x @ w_t
        angles *= frequency
        angles += phases
        loss = 0.5 * curvature * np.einsum("nd,nd->n", x, x) + scale * np.cos(angles).sum(1)
        np.sin(angles, out=angles)
        grad = angles @ directions
        grad *= -scale * frequency
        grad += curvature * x
        return loss, grad

    return loss_and_grad


def run_momentum(
    loss_and_grad,
    x: np.ndarray,
    lr: np.ndarray,
    beta: np.ndarray,
    *,
    steps: int,
    record_every: int,
    max_period: int = 16,
    divergence_ratio: float = 1e6,
    converged_tol: float = 1e-5,
    oscillation_threshold: float = 0.5,
    period_rtol: float = 1e-4,
    steady_rtol: float = 1e-2,
    growing_change: float = 1.0,
    dtype: type = np.float32,
) -> dict[str, np.ndarray]:
    """Heavy ball from the starts ``x`` (trajectories, dim) on any landscape given as a
    vectorised ``loss_and_grad``: the same per-step work and records as the valley's run."""
    n, dim = x.shape
    x = x.astype(dtype, copy=True)
    lr = lr.astype(dtype)[:, None]
    beta = beta.astype(dtype)[:, None]
    v = np.zeros_like(x)
    u = np.empty_like(x)
    p = np.zeros_like(x)
    q = np.zeros_like(x)  # the update before the last
    loss0, grad = loss_and_grad(x)
    first_step = lr[:, 0] * np.sqrt(np.einsum("nd,nd->n", grad, grad))
    log = _Tracker(loss0, first_step, steps=steps, record_every=record_every,
                   max_period=max_period, divergence_ratio=divergence_ratio, dim=dim,
                   dtype=dtype)
    log.set_scale(np.einsum("nd,nd->n", x, x))
    zero = dtype(0)

    for w in range(steps // record_every):
        log.open_window()
        for i in range(record_every):
            t = w * record_every + i
            loss, grad = loss_and_grad(x)
            v *= beta
            v += grad
            np.multiply(-lr, v, out=u)
            alive = log.observe(t, loss, np.einsum("nd,nd->n", u, u),
                                np.einsum("nd,nd->n", u, p),
                                lambda: x @ log.direction,  # noqa: B023 - called now
                                np.einsum("nd,nd->n", u, q))
            q[...] = p
            p, u = u, p
            x += np.where(alive[:, None], p, zero)
        log.close_window(w, loss)
        log.set_scale(np.einsum("nd,nd->n", x, x))

    final_loss, _ = loss_and_grad(x)
    return log.finish(final_loss, np.sqrt(np.einsum("nd,nd->n", p, p)),
                      max_period=max_period, converged_tol=converged_tol,
                      oscillation_threshold=oscillation_threshold, period_rtol=period_rtol,
                      steady_rtol=steady_rtol, growing_change=growing_change)
