"""The fitted twin: its numbers, its landscape, and what it predicts for other schedules."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from .. import schedules as _schedules
from ..landscapes.stochastic import NoisyQuadratic
from ..observe import DIMENSIONLESS
from ._log import TrainingLog
from ._model import Parameters, bits_for, expected_log

SPREAD = (5.0, 95.0)  # the percentiles of the refits that bound a prediction


class FitQuality(NamedTuple):
    """How well the twin's expected log matches the log it was fitted to.

    Attributes:
        rms_relative_error: the root mean square of log(logged / fitted) over the rows, about
            the typical relative error for small values.
        median_relative_error: the median of ``|logged / fitted - 1|`` over the rows.
        max_relative_error: the largest ``|logged / fitted - 1|``.
        val_median_relative_error: the same median for ``val_loss`` (NaN without one).
        restarts_agreeing: how many of the random starts ended within 1 % of the best fit.
        restarts: how many random starts there were.
    """

    rms_relative_error: float
    median_relative_error: float
    max_relative_error: float
    val_median_relative_error: float
    restarts_agreeing: int
    restarts: int


class Stability(NamedTuple):
    r"""Where the run sits against its stability edge, :math:`\eta h_1` against the edge.

    Attributes:
        rate: the largest learning rate of the log, :math:`\eta`.
        sharpness: the twin's top curvature, :math:`h_1`.
        eta_h1: :math:`\eta h_1`.
        edge: where :math:`\eta h_1` diverges: 2 for SGD, :math:`2(1+\beta)` with heavy-ball
            momentum :math:`\beta`.
        fraction: :math:`\eta h_1 / \text{edge}`, below 1 for a run that does not diverge.
        bounce_edge: where the top direction starts bouncing, :math:`\eta h_1 = 1` for SGD
            (NaN with momentum, which rings instead).
    """

    rate: float
    sharpness: float
    eta_h1: float
    edge: float
    fraction: float
    bounce_edge: float


@dataclasses.dataclass(frozen=True, eq=False)
class Twin:
    """A noisy quadratic model fitted to a training log (made by :func:`lrscape.twin.fit`).

    Attributes:
        parameters: the fitted :class:`~lrscape.twin.Parameters`.
        replicates: the same from each refit on a resampled log (arrays, one value per refit).
        log: the :class:`~lrscape.twin.TrainingLog` it was fitted to.
        quality: the :class:`FitQuality`.
        dim: :math:`n`, the number of directions of the spectrum.
        momentum: the heavy-ball :math:`\\beta` of the run (0 for plain SGD).
        batch_size: the run's batch size, when given to :func:`~lrscape.twin.fit`.
    """

    parameters: Parameters
    replicates: Parameters
    log: TrainingLog
    quality: FitQuality
    dim: int
    momentum: float
    batch_size: float | None

    # -- the fitted numbers --------------------------------------------------------------

    @property
    def eigenvalues(self) -> np.ndarray:
        r"""The spectrum :math:`h_i = h_1 i^{-\alpha}`."""
        p = self.parameters  # in NumPy's float64: jax would round to float32 here
        return float(p.top_curvature) * np.arange(1, self.dim + 1.0) ** -float(p.exponent)

    @property
    def sharpness(self) -> float:
        """The top curvature :math:`h_1`."""
        return float(self.parameters.top_curvature)

    @property
    def start(self) -> float:
        r"""Every coordinate's start :math:`x_0 = \sqrt{2 L_0 / \sum_i h_i}`."""
        return float(np.sqrt(2.0 * float(self.parameters.initial_loss) / self.eigenvalues.sum()))

    @property
    def noise_scale(self) -> float | None:
        r""":math:`\sigma^2 = \nu B`: the gradient noise per unit curvature at batch size 1."""
        if self.batch_size is None:
            return None
        return float(self.parameters.noise) * self.batch_size

    @property
    def stability(self) -> Stability:
        rate = float(np.max(self.log.learning_rate))
        edge = 2.0 * (1.0 + self.momentum)
        eta_h1 = rate * self.sharpness
        return Stability(rate=rate, sharpness=self.sharpness, eta_h1=eta_h1, edge=edge,
                         fraction=eta_h1 / edge,
                         bounce_edge=1.0 if self.momentum == 0 else float("nan"))

    def landscape(self, batch_size: float | None = None) -> NoisyQuadratic:
        r"""The twin as a ``noisy-quadratic`` landscape that any sweep accepts.

        Its gradient noise has variance :math:`\nu h_i` (:class:`NoisyQuadratic` with
        ``batch_size`` :math:`1/\nu`); at another ``batch_size`` :math:`B'` of the real run,
        :math:`\nu B / B'`. Its full loss is the twin's loss less the floor :math:`c`, and its
        minibatch loss adds :math:`n \nu / 2` to that on average (a property of the noisy
        quadratic model, not of the real run).
        """
        return NoisyQuadratic(eigenvalues=self.eigenvalues,
                              batch_size=1.0 / self._noise(batch_size), start=self.start)

    def _noise(self, batch_size: float | None, p: Parameters | None = None) -> Any:
        noise = (self.parameters if p is None else p).noise
        if batch_size is None:
            return noise
        if self.batch_size is None:
            raise ValueError("`batch_size`: this twin was fitted without the run's batch size "
                             "(fit(log, batch_size=...)), so it cannot scale the noise to "
                             f"batch size {batch_size!r}")
        if not (np.isfinite(batch_size) and batch_size > 0):
            raise ValueError(f"`batch_size` must be a finite number > 0, got {batch_size!r}")
        return noise * self.batch_size / batch_size

    # -- predictions ---------------------------------------------------------------------

    def predict(self, learning_rate: Any, steps: int, batch_size: float | None = None, *,
                schedule: Any = None) -> xr.DataArray:
        r"""The expected training loss at every step ``0..steps`` under another schedule.

        ``learning_rate`` is a number, one rate per update (``steps`` values), or a
        :mod:`lrscape.schedules` object, which multiplies the log's first rate (a number with
        ``schedule=`` multiplies that number instead, as in :func:`lrscape.sweep`). The value
        at step :math:`t` is :math:`c + \mathbb E[L(x_t)]`, the expected minibatch loss of
        update :math:`t`, from :func:`lrscape.theory.nqm_expected_loss` with the twin's
        spectrum; coordinates ``low`` and ``high`` bound it by the 5th and 95th percentiles of
        the refits on resampled logs.
        """
        rates = self.rates(learning_rate, steps, schedule)
        windows = np.ones(steps, dtype=np.int64)
        _, snapshots = self._expected(rates, windows, batch_size)
        p = self.replicated()
        loss = np.concatenate([np.asarray(p.initial_loss)[:, None], snapshots], axis=1)
        loss = loss + np.asarray(p.offset)[:, None]
        step = np.arange(steps + 1)
        low, high = _band(loss)
        return xr.DataArray(
            loss[0], dims="step", name="expected_loss",
            coords={"step": step, "low": ("step", low), "high": ("step", high),
                    "learning_rate": ("step", np.append(rates, np.nan))},
            attrs={"long_name": "expected minibatch loss of the twin", "units": DIMENSIONLESS,
                   "spread": f"low, high: percentiles {SPREAD} of {loss.shape[0] - 1} refits"})

    def predict_log(self, step: Any, learning_rate: Any, batch_size: float | None = None
                    ) -> xr.Dataset:
        """What the log of another run would read: window means of ``loss`` and snapshots.

        ``step`` is the update count at the end of each row and ``learning_rate`` the rate
        of each row (or one number), as in a log; the result has ``loss`` (the expected mean
        minibatch loss of each row), ``val_loss`` (the expected snapshot at each row's end,
        when the twin was fitted with one), and ``low`` / ``high`` of each.
        """
        log = TrainingLog.read({"step": step, "learning_rate": learning_rate,
                                "loss": np.ones(np.size(step))})
        means, snapshots = self._expected(log.learning_rate, log.window.astype(np.int64),
                                          batch_size)
        p = self.replicated()
        out = {"loss": means + np.asarray(p.offset)[:, None]}
        if self.log.val_loss is not None:
            out["val_loss"] = snapshots + np.asarray(p.val_offset)[:, None]
        ds = xr.Dataset(coords={"step": log.step.astype(np.int64)})
        for name, value in out.items():
            ds[name] = ("step", value[0])
            low, high = _band(value)
            ds[f"{name}_low"], ds[f"{name}_high"] = ("step", low), ("step", high)
        ds["learning_rate"] = ("step", log.learning_rate)
        return ds

    def rates(self, learning_rate: Any, steps: int, schedule: Any = None) -> np.ndarray:
        """The rate of every update ``0..steps-1`` that :meth:`predict` would use."""
        if not (isinstance(steps, int | np.integer) and steps >= 1):
            raise ValueError(f"`steps` must be a whole number >= 1, got {steps!r}")
        if isinstance(learning_rate, _schedules.Schedule):
            schedule, learning_rate = learning_rate, float(self.log.learning_rate[0])
        multiplier = np.ones(steps) if schedule is None else _multipliers(schedule, steps)
        rate = np.asarray(learning_rate, dtype=np.float64)
        if rate.ndim == 1 and rate.size != steps:
            raise ValueError(f"`learning_rate` has {rate.size} values; a run of {steps} steps "
                             f"needs one number or {steps} values")
        if rate.ndim > 1 or not np.all(np.isfinite(rate)) or np.any(rate <= 0):
            raise ValueError(f"`learning_rate` must be a number > 0 or one per step, got "
                             f"{learning_rate!r:.80}")
        return np.broadcast_to(rate, (steps,)) * multiplier

    def replicated(self) -> Parameters:
        """The fit and its refits, stacked: row 0 is the fit."""
        return Parameters(*(np.append(np.asarray(a, dtype=np.float64),
                                             np.asarray(b, dtype=np.float64))
                                   for a, b in zip(self.parameters, self.replicates,
                                                   strict=True)))

    def _expected(self, rates: np.ndarray, windows: np.ndarray, batch_size: float | None
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Window means and end-of-row snapshots (no floors) for the fit and every refit:
        one row of the result each, the fit first."""
        p = self.replicated()
        p = p._replace(noise=self._noise(batch_size, p))
        with jax.enable_x64(True):
            means, snapshots = jax.vmap(
                lambda q: expected_log(q, jnp.asarray(rates), jnp.asarray(windows),
                                       dim=self.dim, momentum=self.momentum,
                                       bits=bits_for(windows))
            )(Parameters(*map(jnp.asarray, p)))
            return np.asarray(means), np.asarray(snapshots)

    def phase_sweep(self, learning_rates: Any = None, momenta: Any = None, *,
                    steps: int | None = None, batch_size: float | None = None,
                    **sweep_options: Any) -> xr.Dataset:
        r"""The twin's phase diagram: :func:`lrscape.sweep` of its landscape with heavy ball.

        Over ``learning_rates`` (default: 40 log-spaced from a hundredth of the log's largest
        rate to 1.2x the rate at which the largest momentum diverges, :math:`2(1+\beta)/h_1`)
        and ``momenta`` (default 0 to 0.95), for the log's number of updates (at most 4,000)
        or ``steps``. The run itself sits at (:attr:`Stability.rate`, :attr:`momentum`).
        """
        from .. import grid as _grid
        from ..sweep import sweep

        momenta = np.linspace(0.0, 0.95, 20) if momenta is None else momenta
        top = 1.2 * 2.0 * (1.0 + float(np.max(momenta))) / self.sharpness
        rates = (_grid.logspace(min(self.stability.rate / 100.0, top / 1000.0), top, 40)
                 if learning_rates is None else learning_rates)
        steps = min(self.log.steps, 4000) if steps is None else steps
        sweep_options.setdefault("progress", False)
        return sweep(self.landscape(batch_size), "momentum",
                     {"learning_rate": rates, "momentum": momenta}, steps=steps,
                     **sweep_options)

    def summary(self) -> str:
        """The fitted numbers and the fit's quality, as lines of text."""
        p, q, s = self.parameters, self.quality, self.stability
        spread = self._spread
        lines = [
            f"twin of a {self.log.rows}-row log ({self.log.steps} updates), noisy quadratic "
            f"model with {self.dim} directions",
            f"  sharpness h1         {self.sharpness:.4g}{spread('top_curvature')}",
            f"  spectrum exponent    {float(p.exponent):.4g}{spread('exponent')}",
            f"  initial loss L0      {float(p.initial_loss):.4g}{spread('initial_loss')}",
            f"  noise nu = sigma2/B  {_shown(p.noise)}{spread('noise')}",
            f"  loss floor c         {_shown(p.offset)}{spread('offset')}",
        ]
        if self.log.val_loss is not None:
            lines.append(f"  val floor c_val      {_shown(p.val_offset)}{spread('val_offset')}")
        lines += [
            f"  eta * h1             {s.eta_h1:.4g} at rate {s.rate:g}: {100 * s.fraction:.1f} % "
            f"of the stability edge {s.edge:g}",
            f"  fit: median relative error {100 * q.median_relative_error:.2f} %, "
            f"max {100 * q.max_relative_error:.2f} %"
            + ("" if np.isnan(q.val_median_relative_error) else
               f"; val_loss median {100 * q.val_median_relative_error:.2f} %"),
            f"  {q.restarts_agreeing} of {q.restarts} random starts reached the best fit",
        ]
        return "\n".join(lines)

    def _spread(self, name: str) -> str:
        values = np.asarray(getattr(self.replicates, name))
        if values.size < 2:
            return ""
        low, high = np.percentile(values, SPREAD)
        return f"  [{_shown(low)}, {_shown(high)}]"


def _band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The :data:`SPREAD` percentiles over the refits (rows after the first, the fit's);
    the fit itself where there are none."""
    if values.shape[0] < 2:
        return values[0], values[0]
    low, high = np.percentile(values[1:], SPREAD, axis=0)
    return low, high


def _shown(value: float) -> str:
    """A fitted number; one at the fit's floor for a noise or an offset (e^-70) reads 0."""
    return "0" if float(value) < 1e-29 else f"{float(value):.4g}"


def _multipliers(schedule: Any, steps: int) -> np.ndarray:
    schedule = _schedules.resolve(schedule)
    schedule.check_horizon(steps)
    call: Callable[[jax.Array], jax.Array] = schedule
    with jax.enable_x64(True):  # a multiplier of 0.1 in float32 is 0.100000001
        return np.asarray(jax.vmap(call)(jnp.arange(steps)), dtype=np.float64)
