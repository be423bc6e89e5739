"""The twin's figure: the log and its fit, predictions under other schedules, and the run on
its twin's phase diagram."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import xarray as xr

from ._axes import positions
from ._phase import phase_diagram

#: Line colours of successive predictions (Okabe-Ito, after the fit's black).
PREDICTION_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


def twin_figure(twin: Any, predictions: Mapping[str, xr.DataArray] | None = None,
                phase: xr.Dataset | None = None) -> Any:
    """A figure of a :class:`lrscape.twin.Twin`: one panel each for the log and its fit, the
    ``predictions`` (name -> :meth:`~lrscape.twin.Twin.predict`'s DataArray) and, with
    ``phase`` (:meth:`~lrscape.twin.Twin.phase_sweep`'s Dataset), the run's place on its
    twin's phase diagram. Returns the matplotlib Figure."""
    panels = 1 + bool(predictions) + (phase is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5.6 * panels, 4.6), squeeze=False)
    axes = list(axes[0])
    fit_axes(twin, axes.pop(0))
    if predictions:
        prediction_axes(twin, predictions, axes.pop(0))
    if phase is not None:
        run_on_phase_diagram(twin, phase, axes.pop(0))
    fig.tight_layout()
    return fig


def fit_axes(twin: Any, ax: Any) -> Any:
    """The log's rows (dots) and the twin's expected log (lines), on a log scale."""
    log = twin.log
    fitted = twin.predict_log(log.step, log.learning_rate)
    ax.plot(log.step, log.loss, "o", ms=3.5, color="0.45", label="log: loss (mean per row)")
    ax.plot(fitted.step, fitted.loss, color="black", lw=1.6, label="twin: expected loss")
    if log.val_loss is not None:
        ax.plot(log.step, log.val_loss, "s", ms=3.5, mfc="none", color="#0072B2",
                label="log: val_loss (snapshot)")
        ax.plot(fitted.step, fitted.val_loss, color="#0072B2", lw=1.2, ls="--",
                label="twin: expected val_loss")
    q = twin.quality
    ax.set(yscale="log", xlabel="step (updates)", ylabel="loss (log scale)",
           title=f"Log and its twin (median error {100 * q.median_relative_error:.1f} %)")
    ax.legend(fontsize=8)
    return ax


def prediction_axes(twin: Any, predictions: Mapping[str, xr.DataArray], ax: Any) -> Any:
    """Each prediction's expected loss per step, with its 5-95 % band over the refits."""
    log = twin.log
    ax.plot(log.step, log.loss, "o", ms=3, color="0.6", label="the log")
    for color, (name, pred) in zip(PREDICTION_COLORS * 4, predictions.items(), strict=False):
        ax.plot(pred.step, pred.values, color=color, lw=1.5, label=name)
        ax.fill_between(pred.step, pred.low, pred.high, color=color, alpha=0.2, lw=0)
    ax.set(yscale="log", xlabel="step (updates)", ylabel="expected loss (log scale)",
           title="What the twin predicts (bands: 5-95 % of refits)")
    ax.legend(fontsize=8)
    return ax


def run_on_phase_diagram(twin: Any, phase: xr.Dataset, ax: Any) -> Any:
    """The twin's phase diagram over (learning rate, momentum), the run marked by a star."""
    phase_diagram(phase, "learning_rate", "momentum", ax=ax,
                  title=f"The run on its twin's phase diagram (h1 = {twin.sharpness:.3g})")
    s = twin.stability
    x = float(positions(phase, "learning_rate", [s.rate])[0])
    y = float(positions(phase, "momentum", [twin.momentum])[0])
    ax.plot([x], [y], marker="*", ms=17, color="white", mec="black", mew=1.2, ls="none",
            zorder=5, clip_on=False)
    ax.annotate(f"this run: rate {s.rate:.3g}, momentum {twin.momentum:g}\n"
                f"eta h1 = {s.eta_h1:.3g} ({100 * s.fraction:.0f} % of the edge {s.edge:g})",
                (x, y), xytext=(8, 10), textcoords="offset points", fontsize=8,
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.5", "alpha": 0.9},
                zorder=6)
    return ax
