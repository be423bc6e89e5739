"""What was recorded along chosen trajectories: losses, epoch logs and sharpness."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from .. import overlays as theory_lines  # not `overlays`: phase_diagram's argument
from ..regimes import NOT_COMPUTED, Regime
from ..rerun import check_points
from ._axes import grid_axes
from ._style import REGIME_COLORS


def _trajectories(ds: xr.Dataset, points: Sequence[Mapping[str, Any]] | None,
                  labels: Sequence[str] | None) -> list[tuple[xr.Dataset, Regime, str]]:
    """Each point's trajectory (the nearest grid point), its regime and its curve's label;
    with ``points=None``, every point of a Dataset of points (``lrscape.rerun``'s,
    ``lrscape.sweep(points=...)``'s)."""
    if points is None:
        return _every_point(ds, labels)
    check_points(points)
    out = []
    for i, point in enumerate(points):
        unknown = [k for k in point if k not in grid_axes(ds)]
        if unknown:
            raise ValueError(f"points[{i}] names {unknown}, which are not grid axes")
        unset = [d for d in grid_axes(ds) if d not in point]
        if unset:
            raise ValueError(f"points[{i}] = {dict(point)} leaves the grid axes {unset} unset: "
                             f"give every curve a value on each of {grid_axes(ds)}")
        sel = ds.sel(dict(point), method="nearest")
        _warn_if_moved(i, point, sel)
        if int(sel["regime"]) == NOT_COMPUTED:
            raise ValueError(f"points[{i}] = {dict(point)} was not computed: the store is "
                             "incomplete (rerun its sweep to finish it)")
        regime = Regime(int(sel["regime"]))
        text = labels[i] if labels else ", ".join(
            f"{k.replace('_', ' ')}={float(sel[k]):.3g}" for k in point)
        out.append((sel, regime, f"{text} ({regime.name.lower()})"))
    return out


def _warn_if_moved(i: int, point: Mapping[str, Any], sel: xr.Dataset) -> None:
    """A warning naming each value of ``point`` that is not on the grid, and the grid value
    drawn instead (``lrscape.rerun`` runs a point exactly where it is)."""
    moved = {k: float(sel[k]) for k, v in point.items()
             if not np.isclose(float(sel[k]), float(v), rtol=1e-6, atol=0.0)}
    if moved:
        shown = ", ".join(f"{k}={point[k]!r} -> {v:.6g}" for k, v in moved.items())
        warnings.warn(f"points[{i}] is not on the grid: drawing the nearest grid point "
                      f"({shown}); lrscape.rerun runs it exactly", stacklevel=4)


def _every_point(ds: xr.Dataset, labels: Sequence[str] | None
                 ) -> list[tuple[xr.Dataset, Regime, str]]:
    if "point" not in ds.dims:
        raise ValueError("give the `points` to draw: the Dataset is a grid, not a list of points")
    axes = [name for name, coord in ds.coords.items() if coord.dims == ("point",)]
    out = []
    for i in range(ds.sizes["point"]):
        sel = ds.isel(point=i)
        regime = Regime(int(sel["regime"]))
        text = labels[i] if labels else ", ".join(
            f"{k.replace('_', ' ')}={float(sel[k]):.3g}" for k in axes)
        out.append((sel, regime, f"{text} ({regime.name.lower()})"))
    return out


def _records_needed(ds: xr.Dataset, variable: str, what: str) -> None:
    if variable not in ds:
        raise ValueError(f"the Dataset has no {what} ({variable!r}): it was returned or read "
                         "with records=False; read them with lrscape.open(store, isel=...)")


def loss_curves(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None,
    *,
    ax: Any = None,
    variable: str = "loss_mean",
    labels: Sequence[str] | None = None,
) -> Any:
    """Recorded losses against steps for selected trajectories (nearest grid points).

    The scale is logarithmic. A diverged run's curve ends in a cross (an arrow with its value
    where it would squash the others); a run whose loss reaches exactly 0, below what its
    floating-point type can hold above 0, ends in a downward triangle at its last record
    above 0, and its label gives the step (a single record above 0 is drawn as a point).
    Where a drawn loss goes below 0 (a landscape whose minimum is negative), the scale is
    symmetric-logarithmic instead, linear near 0, so that every record is drawn.

    Args:
        points: one mapping of grid-axis values per curve, e.g. ``[{"learning_rate": 0.01}]``;
            ``None`` for every point of a Dataset of points (``lrscape.rerun``'s).
        variable: ``"loss_mean"`` (window means) or ``"loss_last"`` (snapshots).
    """
    if variable not in ("loss_mean", "loss_last"):
        raise ValueError(f"`variable` must be 'loss_mean' or 'loss_last', got {variable!r}")
    _records_needed(ds, variable, "records")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    steps = ds["step"].values
    ends, kept = [], []  # the diverged runs' last records; every other run's records
    trajectories = _trajectories(ds, points, labels)
    negative = any(np.nanmin(sel[variable].values, initial=np.inf) < 0
                   for sel, _, _ in trajectories)
    for sel, regime, label in trajectories:
        raw = sel[variable].values
        values = raw if negative else np.where(raw > 0, raw, np.nan)
        if regime == Regime.DIVERGED:
            step = int(sel["divergence_step"])
            label += f", diverged at step {step}" if step >= 0 else ", still growing at the end"
        zero = None if negative else _reaches_zero(raw)
        if zero is not None and regime != Regime.DIVERGED:
            label += f", 0 in {raw.dtype.name} from step {steps[zero]}"
        ax.plot(steps, values, color=REGIME_COLORS[regime], alpha=0.9, lw=1.5, label=label,
                marker="." if np.count_nonzero(np.isfinite(values)) == 1 else None)
        if zero is not None and regime != Regime.DIVERGED and zero > 0:
            ax.plot(steps[zero - 1], values[zero - 1], "v", color=REGIME_COLORS[regime],
                    mec="black", ms=8, zorder=4)
        finite = np.flatnonzero(np.isfinite(values))
        if regime == Regime.DIVERGED and finite.size:
            ends.append((steps[finite[-1]], values[finite[-1]], REGIME_COLORS[regime]))
        else:
            kept.append(values[finite])
    shown = np.concatenate(kept) if kept else np.array([])
    if negative:
        ax.set_yscale("symlog", linthresh=max(1e-3 * float(np.abs(shown).max(initial=1.0)),
                                              1e-30))
    else:
        ax.set_yscale("log")
    _mark_diverged_ends(ax, ends, shown)
    ax.set_xlabel("step")
    window = ds.attrs.get("record_every", "k")
    what = "minibatch loss" if ds.attrs.get("steps_per_epoch") else "loss"
    scale = "\n(symmetric log scale: linear near 0)" if negative else ""
    ax.set_ylabel(f"{what}, mean over each window of {window} steps{scale}"
                  if variable == "loss_mean" else f"{what} at each record step{scale}")
    ax.legend(fontsize=8)
    return ax


def _reaches_zero(values: np.ndarray) -> int | None:
    """The first record at which a run's loss is exactly 0 and stays so, after one above 0
    (underflow, or a minimum reached exactly), else ``None``."""
    positive = np.flatnonzero(values > 0)
    if not positive.size or positive[-1] == len(values) - 1:
        return None
    rest = values[positive[-1] + 1:]
    return int(positive[-1] + 1) if np.all(rest == 0) else None


#: A diverged run's last record more than this many times above every other curve's largest
#: is drawn at the top of a panel that stops ``OFF_SCALE_MARGIN`` above those curves, so that
#: they keep the panel's height.
OFF_SCALE_RATIO = 1e3
OFF_SCALE_MARGIN = 30.0


def _mark_diverged_ends(ax: Any, ends: Sequence[tuple[float, float, str]],
                        kept: np.ndarray | None = None) -> None:
    """A cross at each diverged run's last record; an arrow with its value at the panel's
    top where it would squash the other curves, ``kept`` (see :data:`OFF_SCALE_RATIO`)."""
    kept = np.array([]) if kept is None else kept
    highest = kept.max() if kept.size else np.inf
    squashed = any(value > OFF_SCALE_RATIO * highest for _, value, _ in ends)
    top = OFF_SCALE_MARGIN * highest if squashed else np.inf
    for step, value, color in ends:
        if value <= top:
            ax.plot(step, value, "x", color=color, ms=9, mew=2)
            continue
        ax.plot(step, top, "^", color=color, ms=9, clip_on=False)
        ax.annotate(f"{value:.1e}", (step, top), xytext=(6, -4), textcoords="offset points",
                    va="top", fontsize=8, color=color)
    if np.isfinite(top):
        ax.set_ylim(top=top)


def epoch_curves(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None,
    *,
    ax: Any = None,
    labels: Sequence[str] | None = None,
) -> Any:
    """What a training log shows at each epoch's end, for selected trajectories of a sweep on a
    finite-sum landscape: the epoch-mean training loss (solid, circles), which averages the
    epoch's minibatch losses, and the validation loss (dashed, squares), a snapshot of
    wherever the parameters are when the epoch ends.
    """
    _records_needed(ds, "val_loss", "epoch records")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    epochs = ds["epoch"].values
    for sel, regime, label in _trajectories(ds, points, labels):
        color = REGIME_COLORS[regime]
        ax.plot(epochs, sel["epoch_loss_mean"].values, "-o", color=color, ms=3, lw=1.5,
                label=label)
        ax.plot(epochs, sel["val_loss"].values, "--s", color=color, ms=3, lw=1.0)
    ax.plot([], [], "-o", color="0.3", ms=3, label="solid: training loss, mean over the epoch")
    ax.plot([], [], "--s", color="0.3", ms=3, label="dashed: validation loss at the epoch's end")
    ax.set_yscale("log")
    per_epoch = ds.attrs.get("steps_per_epoch")
    ax.set_xlabel(f"epoch ({per_epoch} minibatches)" if per_epoch else "epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    return ax


def stability_threshold(ds: xr.Dataset, trajectory: xr.Dataset
                        ) -> tuple[np.ndarray, np.ndarray, str] | None:
    r"""The sharpness above which one trajectory's optimizer is unstable, at every step.

    On a quadratic of curvature :math:`\lambda` gradient descent, heavy ball and Nesterov
    diverge beyond :math:`\eta\lambda = e(\beta)` (:mod:`lrscape.theory`), so along a
    trajectory whose rate at update ``t`` is :math:`\eta\,s(t)` the threshold on its sharpness
    is :math:`e(\beta) / (\eta\,s(t))`: the edge of stability that a sharpness rising to it
    hovers at. Returns ``(steps, threshold, formula)`` for the trajectory ``trajectory``
    (one grid point of ``ds``), or ``None`` where no closed form applies: other optimizers,
    per-group learning rates, a schedule given as a function.
    """
    optimizer = theory_lines.sweep_optimizer(ds)
    if optimizer is None or optimizer.edges is None:
        return None
    hyper = json.loads(ds.attrs.get("optimizer_config", "{}")).get("hyperparams", {})
    targets = dict(json.loads(ds.attrs.get("grid_axes", "[]")))
    swept = {target: trajectory[name].item() for name, target in targets.items()
             if name in trajectory.coords and trajectory[name].ndim == 0}
    rate = swept.get("optimizer.learning_rate", hyper.get("learning_rate"))
    beta = swept.get("optimizer.momentum", hyper.get("momentum")) or 0.0
    if rate is None or not rate > 0:
        return None  # per-group rates, or none
    steps = np.arange(int(ds.attrs["steps"]) + 1)
    name = ds.attrs.get("schedule", "constant")
    multiplier = np.ones(steps.shape)
    if name == "function":
        return None  # its multipliers are not in the Dataset
    if name != "constant":
        import jax

        from .. import schedules

        fields = json.loads(ds.attrs.get("schedule_config", "{}"))
        fields.update({t.split(".", 1)[1]: v for t, v in swept.items()
                       if t.startswith("schedule.")})
        multiplier = np.asarray(jax.vmap(schedules.get(name, **fields))(steps), dtype=float)
    edge = optimizer.edges.diverges
    with np.errstate(divide="ignore"):
        threshold = np.where(multiplier > 0, float(edge.function(beta)) / (rate * multiplier),
                             np.nan)
    return steps, threshold, f"{edge.formula}/η"


def sharpness_curves(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None,
    *,
    ax: Any = None,
    labels: Sequence[str] | None = None,
    thresholds: bool = True,
) -> Any:
    """The sharpness (top Hessian eigenvalue) along selected trajectories, from a sweep run
    with ``curvature_every``; dashed in the same colour, each one's stability threshold
    (:func:`stability_threshold`) where a closed form gives it.
    """
    _records_needed(ds, "sharpness", "sharpness records")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    steps = ds["curvature_step"].values
    drawn, formulas = [], set()
    for sel, regime, label in _trajectories(ds, points, labels):
        values = sel["sharpness"].values
        color = REGIME_COLORS[regime]
        ax.plot(steps, values, color=color, alpha=0.9, lw=1.5, label=label)
        finite = np.flatnonzero(np.isfinite(values))
        if regime == Regime.DIVERGED and finite.size:  # its last measurement before it did
            _mark_diverged_ends(ax, [(steps[finite[-1]], values[finite[-1]], color)])
        drawn.append(values)
        edge = stability_threshold(ds, sel) if thresholds else None
        if edge is not None:
            ax.plot(edge[0], edge[1], color=color, ls="--", lw=1.0)
            formulas.add(edge[2])
            drawn.append(edge[1])
    shown = np.concatenate([np.ravel(v) for v in drawn]) if drawn else np.array([])
    shown = shown[np.isfinite(shown) & (shown > 0)]
    if shown.size and shown.max() > 10 * shown.min():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("sharpness: top Hessian eigenvalue λ₁")
    if formulas:
        ax.plot([], [], color="0.3", ls="--", lw=1.0,
                label="dashed: unstable above " + " or ".join(sorted(formulas)))
    ax.legend(fontsize=8)
    return ax
