"""Figures: phase diagrams of any two grid axes, and loss curves of chosen trajectories.

The only module that imports matplotlib. Every function takes the Dataset that
:func:`lrscape.sweep` returns (or :func:`lrscape.open` reads back) and an optional ``ax``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.colors import BoundaryNorm, ListedColormap, TwoSlopeNorm
from matplotlib.patches import Patch
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from . import overlays as theory_lines  # not `overlays`: phase_diagram's argument
from ._fields import require_optional_int
from .grid import is_log_spaced
from .landscapes import Landscape
from .landscapes._base import REGISTRY
from .overlays import Overlay
from .regimes import DISPLAY_ORDER, NOT_COMPUTED, Regime, Thresholds

#: The Okabe-Ito palette, which readers with any of the common colour-vision deficiencies
#: can tell apart.
REGIME_COLORS = {
    Regime.MONOTONE: "#0072B2",  # blue: smooth descent
    Regime.RINGING: "#56B4E9",  # sky blue: underdamped, swinging back and forth
    Regime.OSCILLATORY: "#009E73",  # bluish green: zig-zag while descending
    Regime.PERIODIC: "#E69F00",  # orange: a cycle
    Regime.CHAOTIC: "#CC79A7",  # reddish purple: chaos
    Regime.DIVERGED: "#D55E00",  # vermillion: blew up
}
#: The legends' words; OSCILLATORY's are the landscape's own (:func:`regime_labels`).
REGIME_LABELS = {
    Regime.MONOTONE: "monotone (smooth descent)",
    Regime.OSCILLATORY: f"oscillatory ({Landscape.oscillation_words})",
    Regime.PERIODIC: "periodic orbit",
    Regime.CHAOTIC: "chaotic",
    Regime.DIVERGED: "diverged",
    Regime.RINGING: "ringing (overshoots and swings back)",
}
#: Trajectories an incomplete store does not hold (``regime`` = NOT_COMPUTED).
NOT_COMPUTED_COLOR = "#D9D9D9"
NOT_COMPUTED_LABEL = "not computed (the sweep was stopped: rerun it to finish)"
_CMAP = ListedColormap([REGIME_COLORS[r] for r in Regime]).with_extremes(bad=NOT_COMPUTED_COLOR)
_NORM = BoundaryNorm(np.arange(len(Regime) + 1) - 0.5, len(Regime))

#: Line styles of successive overlay curves: dashed, dotted, dash-dotted.
_OVERLAY_STYLES = ("--", ":", "-.")


def oscillation_words(ds: xr.Dataset) -> str:
    """What an OSCILLATORY trajectory does on the sweep's landscape: the words it declared
    (:attr:`lrscape.landscapes.Landscape.oscillation_words`), stored with the sweep, else
    those of the landscape registered under its name (a store written before they were
    stored), else the generic ones."""
    words = ds.attrs.get("oscillation_words")
    if isinstance(words, str) and words:
        return words
    return (REGISTRY.lookup(ds.attrs.get("landscape")) or Landscape).oscillation_words


def regime_labels(ds: xr.Dataset) -> dict[Regime, str]:
    """The legend's label of each regime, in the words of the sweep's landscape."""
    return {**REGIME_LABELS, Regime.OSCILLATORY: f"oscillatory ({oscillation_words(ds)})"}


def grid_axes(ds: xr.Dataset) -> list[str]:
    """The Dataset's grid dimensions, in sweep order (those still dimensions: a slice of a
    sweep keeps its attributes, which name every axis)."""
    dims = ds["regime"].dims
    return [name for name, _ in json.loads(ds.attrs.get("grid_axes", "[]"))
            if name in dims] or list(dims)


def plane_axes(ds: xr.Dataset, x: str | None = None, y: str | None = None
               ) -> tuple[str, str | None]:
    """The grid axes drawn across and up: those given, else the learning rate (if swept, else
    the first axis) across and the next axis up (none for a 1-D grid)."""
    axes = grid_axes(ds)
    for name, value in (("x", x), ("y", y)):
        if value is not None and value not in axes:
            raise ValueError(f"`{name}` = {value!r} is not a grid axis; grid axes: {axes}")
    if x is not None and x == y:
        raise ValueError(f"`x` and `y` are both {x!r}: draw two different grid axes")
    x = x or ("learning_rate" if "learning_rate" in axes and y != "learning_rate"
              else next(a for a in axes if a != y))
    return x, y or next((a for a in axes if a != x), None)


def _is_log(ds: xr.Dataset, name: str) -> bool:
    spacing = ds[name].attrs.get("spacing")
    return spacing == "log" if spacing else is_log_spaced(ds[name].values)


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted coordinate values (midpoints, in log space if ``log``)."""
    v = np.log(values) if log else np.asarray(values, dtype=float)
    if v.size == 1:
        half = 0.5 if not log else 0.1
        e = np.array([v[0] - half, v[0] + half])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def _span(values: np.ndarray, log: bool) -> tuple[float, float]:
    """The axis limits that hold every cell, increasing whichever way the grid axis runs."""
    edges = _edges(values, log)
    return float(edges.min()), float(edges.max())


#: An axis of at most this many values gets a tick at each (cells then span unequal widths, and
#: ticks at round numbers would not say which values were simulated).
MAX_TICKED_VALUES = 8


def _tick_at_values(axis: Any, values: np.ndarray) -> None:
    """Ticks at the simulated values of a short axis, labelled as they were given."""
    if len(values) > MAX_TICKED_VALUES:
        return
    axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in values]))
    axis.set_minor_locator(NullLocator())


def _label(ds: xr.Dataset, name: str) -> str:
    field, _, group = name.partition("@")
    text = field.replace("_", " ") + (f" for {group}" if group else "")
    return f"{text} (log scale)" if _is_log(ds, name) else text


#: How titles write the optimizers' hyperparameters (the others by name).
HYPERPARAMETER_SYMBOLS = {"learning_rate": "η", "momentum": "β", "b1": "β₁", "b2": "β₂",
                          "eps": "ε"}


def fixed_hyperparams(ds: xr.Dataset) -> dict[str, float]:
    """The optimizer's hyperparameters that the sweep held fixed, from its attributes: those
    of ``optimizer_config`` with a value that no grid axis sweeps (for any group; a Dataset
    without ``grid_axes``, as :func:`lrscape.refine` makes, by its coordinates' names)."""
    hyper = json.loads(ds.attrs.get("optimizer_config", "{}")).get("hyperparams", {})
    swept = {str(name) for name in ds.coords}
    for _, target in json.loads(ds.attrs.get("grid_axes", "[]")):
        owner, _, field = target.partition(".")
        if owner == "optimizer":
            swept.add(field)
    swept = {name.partition("@")[0] for name in swept}
    return {k: v for k, v in hyper.items() if v is not None and k not in swept}


def _optimizer_title(ds: xr.Dataset) -> str:
    """The optimizer's name with its fixed hyperparameters: "momentum (β = 0.9 fixed)"."""
    name = str(ds.attrs.get("optimizer", "?"))
    fixed = [f"{HYPERPARAMETER_SYMBOLS.get(k, k.replace('_', ' '))} = {v:g}"
             for k, v in fixed_hyperparams(ds).items()]
    return f"{name} ({', '.join(fixed)} fixed)" if fixed else name


def _title(ds: xr.Dataset) -> str:
    parts = [ds.attrs.get("landscape", "?"), _optimizer_title(ds)]
    if ds.attrs.get("schedule", "constant") != "constant":
        parts.append(f"{ds.attrs['schedule']} schedule")
    parts.append(f"{ds.attrs.get('steps', '?')} steps")
    # the slice drawn of a grid with more axes: those left as scalar coordinates
    for name, _ in json.loads(ds.attrs.get("grid_axes", "[]")):
        if name in ds.coords and ds[name].ndim == 0:
            parts.append(f"{name.replace('_', ' ')} = {ds[name].item():g}")
    return " · ".join(str(p) for p in parts)


def _select_plane(ds: xr.Dataset, keep: Sequence[str], select: Mapping[str, Any] | None) -> Any:
    """The slice of ``ds`` over the axes ``keep``, at the ``select`` values (nearest grid
    values) of the others."""
    axes = grid_axes(ds)
    extra = [d for d in axes if d not in keep]
    select = dict(select or {})
    for name, value in select.items():
        if name not in axes:
            raise ValueError(f"`select` names {name!r}, which is not a grid axis; grid axes: "
                             f"{axes}")
        if name in keep:
            raise ValueError(f"`select` names {name!r}, which is drawn" + (
                f": select the axes not drawn, {extra}" if extra
                else "; every grid axis is, so there is nothing to select"))
        values = ds[name].values
        if values.size > 1:  # within the axis, give or take half a step at either end
            low = values.min() - abs(values[1] - values[0]) / 2
            high = values.max() + abs(values[-1] - values[-2]) / 2
            if not low <= value <= high:
                raise ValueError(f"`select` {name} = {value!r} is outside the grid's "
                                 f"{name} axis, {values.min():g} to {values.max():g}")
    missing = [d for d in extra if d not in select]
    if missing:
        raise ValueError(
            f"the Dataset has grid axes {missing} besides {list(keep)}: choose a slice with "
            f"select={{{missing[0]!r}: value}} (on the command line, --select "
            f"{missing[0]}=VALUE)"
        )
    return ds.sel({d: select[d] for d in extra}, method="nearest") if extra else ds


def theory_overlays(ds: xr.Dataset, x: str, y: str | None) -> list[Overlay]:
    """The closed-form edges that the sweep's landscape and optimizer declare for these axes:
    where the optimizer diverges and where its steps along the steepest direction start to
    reverse (:mod:`lrscape.theory`), in that order (:func:`lrscape.overlays.theory_overlays`).

    The second is the MONOTONE / OSCILLATORY boundary when the other directions are much
    flatter (a single curvature, or the valley's walls over its floor); otherwise their steps,
    which keep their direction, move the boundary to larger rates (about 5% for a quadratic
    with eigenvalues 1 and 10, 15% with 1, 3 and 10). On noisy runs the second is where the
    successive steps' correlation at the noise floor reaches the classifier's -1/2.

    Drawn with the learning rate on ``x`` and the momentum or the landscape's curvature field
    on ``y`` (or no ``y``, or ``seed`` or ``gradient_noise``, along which the edges do not
    move), for a landscape that declares its curvature
    (:meth:`lrscape.landscapes.Landscape.edge_curvature`) and an optimizer that declares its
    edges (:attr:`lrscape.optimizers.Optimizer.edges`).
    """
    return theory_lines.theory_overlays(ds, x, y)


def phase_diagram(
    ds: xr.Dataset,
    x: str | None = None,
    y: str | None = None,
    *,
    ax: Any = None,
    select: Mapping[str, Any] | None = None,
    overlays: Sequence[Overlay] | str | None = "theory",
    title: str | None = None,
    legend: bool = True,
    max_cells: int | None = 1024,
) -> Any:
    """Colour each grid point of two axes by its regime; a 1-D grid gives a strip.

    The legend lists the regimes present from the calmest to the wildest
    (:data:`lrscape.regimes.DISPLAY_ORDER`), in the words of the sweep's landscape
    (:func:`regime_labels`). Cells whose label is borderline (a Dataset with
    ``label_margin``: :func:`borderline_labels`) are hatched, and the legend says so.

    Args:
        ds: a sweep's Dataset.
        x, y: grid axes for the horizontal and vertical directions (default: the learning rate,
            if swept, on ``x`` and the other axis on ``y``).
        select: values of the remaining grid axes, e.g. ``{"seed": 0}``.
        overlays: ``"theory"`` draws the closed-form edges that apply (see
            :func:`theory_overlays`); or a list of ``(label, xs, ys)`` curves, drawn dashed,
            dotted, dash-dotted in turn; or ``None``.
        title: defaults to landscape · optimizer, with the hyperparameters it held fixed
            (:func:`fixed_hyperparams`) · steps.
        max_cells: the most cells drawn along each axis: a longer axis is drawn from evenly
            spaced values of it, its first and last included (a figure has fewer pixels than
            that, and a 4096 x 4096 mesh takes seconds and gigabytes to draw); ``None`` draws
            every cell.
    Returns:
        The matplotlib ``Axes``.
    """
    axes = grid_axes(ds)
    if not axes:
        raise ValueError("the Dataset has no grid axes to draw a phase diagram over")
    require_optional_int("max_cells", max_cells, 2)
    x, y = plane_axes(ds, x, y)
    plane = _select_plane(ds, [a for a in (x, y) if a], select)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5.5) if y else (10, 2.2), constrained_layout=True)

    dims = [a for a in (y, x) if a]
    regimes = plane["regime"].transpose(*dims).values
    shown = np.ma.masked_equal(regimes, NOT_COMPUTED)  # drawn in NOT_COMPUTED_COLOR
    if y is not None:
        _cells(ax, ds, plane, x, y, shown, max_cells, cmap=_CMAP, norm=_NORM)
    else:
        cols = _evenly_spaced(plane.sizes[x], max_cells)
        ax.pcolormesh(_edges(plane[x].values[cols], _is_log(ds, x)), [0, 1], shown[None, cols],
                      cmap=_CMAP, norm=_NORM, shading="flat")
        ax.set_yticks([])
        _grid_axis(ax, ds, plane, x, "x")
    ax.set_title(title if title is not None else _title(plane))

    labels = regime_labels(ds)
    handles = [Patch(color=REGIME_COLORS[r], label=labels[r]) for r in DISPLAY_ORDER
               if np.any(regimes == r)]
    if np.any(regimes == NOT_COMPUTED):
        handles.append(Patch(color=NOT_COMPUTED_COLOR, label=NOT_COMPUTED_LABEL))
    marks = borderline_labels(plane)
    if marks is not None and marks[0].values.any():
        _hatch_borderline(ax, ds, plane, x, y, marks[0].transpose(*dims).values, max_cells)
        handles.append(_borderline_handle(marks[1]))
    curves = theory_overlays(plane, x, y) if overlays == "theory" else list(overlays or [])
    for (label, xs, ys), style in zip(curves, itertools.cycle(_OVERLAY_STYLES)):
        if np.all(np.isnan(ys)):
            line = ax.axvline(xs[0], color="black", ls=style, lw=1.5, label=label)
        else:
            (line,) = ax.plot(xs, ys, color="black", ls=style, lw=1.5, label=label)
        handles.append(line)
    if legend and y is not None:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2,
                  fontsize=8, frameon=False)
    elif legend:  # a strip: beside it, clear of its axis label
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
                  frameon=False)
    return ax


#: The ``borderline`` of ``label_margin`` where its variable does not give one.
DEFAULT_BORDERLINE = Thresholds.borderline
#: Cells whose label is borderline are hatched with white lines over their regime's colour:
#: a texture, not a tint, since a tint would turn one regime's colour into another's (the
#: blue of MONOTONE, lightened, reads as the sky blue of RINGING). The cells are merged into
#: runs along each row, so a region of them takes one continuous hatch whatever the grid's
#: resolution: the borderline region is as wide on the page at 256 x 256 as at 10 x 10.
BORDERLINE_HATCH = "///"
BORDERLINE_HATCH_COLOR = "white"
BORDERLINE_HATCH_WIDTH = 1.2


def borderline_labels(ds: xr.Dataset) -> tuple[xr.DataArray, float] | None:
    """Where the regime label is borderline, and the threshold: ``label_margin`` below its
    ``borderline`` attribute (:data:`DEFAULT_BORDERLINE` without one), on the trajectories
    computed; ``None`` for a Dataset without ``label_margin`` (stores written before it)."""
    if "label_margin" not in ds:
        return None
    margin = ds["label_margin"]
    threshold = float(margin.attrs.get("borderline", DEFAULT_BORDERLINE))
    return (margin < threshold) & (ds["regime"] != NOT_COMPUTED), threshold  # NaN: not marked


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """The ``[start, stop)`` runs of True in a 1-D boolean array."""
    change = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(change[::2].tolist(), change[1::2].tolist(), strict=True))


def _hatch_borderline(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, y: str | None,
                      marked: np.ndarray, max_cells: int | None) -> None:
    """Hatch the cells drawn whose label is borderline (``marked``, ``y`` by ``x``, or along
    ``x`` for a strip), one rectangle per run of them along a row."""
    rows, cols, x_edges, y_edges = _drawn_cells(ds, plane, x, y, max_cells)
    drawn = marked.reshape(-1, marked.shape[-1])[np.ix_(rows, cols)]
    boxes = [[(x_edges[a], y_edges[i]), (x_edges[b], y_edges[i]),
              (x_edges[b], y_edges[i + 1]), (x_edges[a], y_edges[i + 1])]
             for i, row in enumerate(drawn) for a, b in _runs(row)]
    with plt.rc_context({"hatch.color": BORDERLINE_HATCH_COLOR,
                         "hatch.linewidth": BORDERLINE_HATCH_WIDTH}):  # matplotlib < 3.10
        hatch = PolyCollection(boxes, facecolors="none", edgecolors=BORDERLINE_HATCH_COLOR,
                               linewidths=0, hatch=BORDERLINE_HATCH, zorder=1.5)
    if hasattr(hatch, "set_hatchcolor"):
        hatch.set_hatchcolor(BORDERLINE_HATCH_COLOR)
        hatch.set_hatch_linewidth(BORDERLINE_HATCH_WIDTH)
    ax.add_collection(hatch, autolim=False)


def _borderline_handle(threshold: float) -> Patch:
    """The legend's entry for the hatch: what it marks."""
    return Patch(facecolor="0.55", edgecolor=BORDERLINE_HATCH_COLOR, hatch=BORDERLINE_HATCH,
                 label=f"hatched: borderline label (margin < {threshold:g})")


#: Lyapunov exponents below this are drawn at it: a fixed point that the map contracts to in
#: one step has an exponent near log(0), which would flatten every other value to nothing.
LYAPUNOV_FLOOR = -3.0
#: The colour scale of the Lyapunov map reaches at least this many neutral bands
#: (:func:`lyapunov_neutral`) either side of 0, so that exponents just beyond the band are
#: pale, not the scale's full red or blue.
LYAPUNOV_SCALE_BANDS = 10.0


def lyapunov_neutral(steps: int) -> float:
    r"""The exponents that a run of ``steps`` updates cannot tell from 0: :math:`|\lambda| <
    \ln T / T`, the rate of a separation that grew ``T``-fold over the ``T`` steps.

    The exponent is a finite-time estimate, :math:`\frac1T \ln(|v_T| / |v_0|)` for a tangent
    :math:`v`. Along a neutral direction (a flat valley floor, a network's rescaling
    symmetries) nearby trajectories drift apart linearly, not exponentially, and a transient
    or a drift growing like :math:`t^k` still gives :math:`k \ln T / T > 0`: every run of a
    small network reads slightly positive, monotone ones too. Chaos needs an exponent clearly
    above the band, on a bounded orbit.
    """
    return math.log(max(int(steps), 2)) / max(int(steps), 1)


def _lyapunov_title(neutral: float) -> str:
    return ("largest Lyapunov exponent λ per step: near 0 is neutral, not chaos\n"
            f"(|λ| < ln T / T = {neutral:.2g} cannot be told from 0; chaos needs λ clearly "
            "above it on a bounded orbit)")


def _lyapunov_colours(norm: TwoSlopeNorm, neutral: float) -> ListedColormap:
    """Red above 0, blue below, white across the neutral band ``|λ| < neutral``; grey for
    diverged runs (masked)."""
    size = 1024
    colours = plt.get_cmap("RdBu_r")(np.linspace(0, 1, size))
    low, high = (int(np.clip(norm(v), 0, 1) * size) for v in (-neutral, neutral))
    colours[low:high + 1] = (1.0, 1.0, 1.0, 1.0)
    return ListedColormap(colours).with_extremes(bad="0.75")


def lyapunov_map(
    ds: xr.Dataset,
    x: str | None = None,
    y: str | None = None,
    *,
    ax: Any = None,
    select: Mapping[str, Any] | None = None,
    max_cells: int | None = 1024,
) -> Any:
    """The largest Lyapunov exponent of each trajectory over the phase diagram's axes.

    Needs a sweep run with ``lyapunov=True``. Exponents within the neutral band
    (:func:`lyapunov_neutral`, ``ln T / T`` for ``T`` steps) cannot be told from 0 at the
    run's length, and are drawn as neutral. Two axes give a map coloured red where the exponent
    is positive (nearby trajectories separate; chaos where clearly so, on a bounded orbit),
    blue where it is negative (a stable fixed point or cycle), white across the neutral band;
    the scale reaches at least :data:`LYAPUNOV_SCALE_BANDS` bands either side, so an exponent
    just beyond it is pale. One axis gives the exponent against it, each point coloured by its
    regime, with the zero line and the band shaded. Diverged trajectories have none (grey on
    the map, absent on the curve); exponents below :data:`LYAPUNOV_FLOOR` are drawn at it.
    Arguments as for :func:`phase_diagram`. Returns the matplotlib ``Axes``.
    """
    if "lyapunov" not in ds:
        raise ValueError("this Dataset has no `lyapunov`: run the sweep with lyapunov=True "
                         "(lrscape sweep --lyapunov)")
    x, y = plane_axes(ds, x, y)
    plane = _select_plane(ds, [a for a in (x, y) if a], select)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5.5) if y else (8, 3.5), constrained_layout=True)
    neutral = lyapunov_neutral(ds.attrs.get("steps", 1000))
    if y is None:
        _lyapunov_curve(ax, ds, plane, x, neutral)
    else:
        _lyapunov_cells(ax, ds, plane, x, y, neutral, max_cells)
    ax.set_title(_lyapunov_title(neutral), fontsize="medium")
    return ax


def _lyapunov_curve(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, neutral: float
                    ) -> None:
    """The exponent along one axis: a point per run in its regime's colour, the band grey."""
    values = np.maximum(plane["lyapunov"].values, LYAPUNOV_FLOOR)
    regimes = plane["regime"].values
    labels = regime_labels(ds)
    ax.axhspan(-neutral, neutral, color="0.88", lw=0, zorder=0,
               label=f"neutral: |λ| < ln T / T = {neutral:.2g}")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.plot(plane[x].values, values, color="0.6", lw=0.8, zorder=1)
    for regime in DISPLAY_ORDER:
        shown = regimes == regime
        if regime != Regime.DIVERGED and shown.any():
            ax.scatter(plane[x].values[shown], values[shown], s=10, zorder=2,
                       color=REGIME_COLORS[regime], label=labels[regime])
    ax.set_ylabel(f"largest Lyapunov exponent per step\n(clipped at {LYAPUNOV_FLOOR:g})")
    ax.legend(fontsize=8, frameon=False)
    _grid_axis(ax, ds, plane, x, "x")  # as the phase diagram's


def _lyapunov_cells(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, y: str,
                    neutral: float, max_cells: int | None) -> None:
    """The exponent over two axes, on a diverging scale white across the neutral band."""
    values = np.ma.masked_invalid(plane["lyapunov"].transpose(y, x).values)
    values = np.ma.maximum(values, LYAPUNOV_FLOOR)
    reach = LYAPUNOV_SCALE_BANDS * neutral
    top = max(float(values.max()) if values.count() else 0.0, reach)
    bottom = min(float(values.min()) if values.count() else 0.0, -reach)
    norm = TwoSlopeNorm(0.0, bottom, top)
    mesh = _cells(ax, ds, plane, x, y, values, max_cells,
                  cmap=_lyapunov_colours(norm, neutral), norm=norm)
    bar = plt.colorbar(mesh, ax=ax, label="largest Lyapunov exponent per step\n(white: "
                       f"|λ| < {neutral:.2g}, neutral; grey: diverged)")
    for edge in (-neutral, neutral):
        bar.ax.axhline(edge, color="0.3", lw=0.6)


def _grid_axis(ax: Any, ds: xr.Dataset, plane: xr.Dataset, name: str, which: str) -> None:
    """Set the ``which`` ("x" or "y") axis of ``ax`` for the grid axis ``name``: its scale,
    label, limits around every cell (increasing whichever way the grid runs) and, for a short
    axis, a tick at each value. The limits stop autoscaling, so overlays drawn later keep
    them."""
    log = _is_log(ds, name)
    values = plane[name].values
    if which == "x":
        ax.set_xscale("log" if log else "linear")
        ax.set_xlabel(_label(ds, name))
        ax.set_xlim(_span(values, log))
        _tick_at_values(ax.xaxis, values)
    else:
        ax.set_yscale("log" if log else "linear")
        ax.set_ylabel(_label(ds, name))
        ax.set_ylim(_span(values, log))
        _tick_at_values(ax.yaxis, values)


def _drawn_cells(ds: xr.Dataset, plane: xr.Dataset, x: str, y: str | None,
                 max_cells: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells drawn of ``y`` by ``x`` (a strip of height 1 for no ``y``): the positions of
    the rows and columns drawn, at most ``max_cells`` along each axis (:func:`_evenly_spaced`),
    and their edges."""
    cols = _evenly_spaced(plane.sizes[x], max_cells)
    x_edges = _edges(plane[x].values[cols], _is_log(ds, x))
    if y is None:
        return np.array([0]), cols, x_edges, np.array([0.0, 1.0])
    rows = _evenly_spaced(plane.sizes[y], max_cells)
    return rows, cols, x_edges, _edges(plane[y].values[rows], _is_log(ds, y))


def _cells(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, y: str, values: np.ndarray,
           max_cells: int | None, **style: Any) -> Any:
    """Draw ``values`` (``y`` by ``x``) as one cell per grid point, at most ``max_cells`` along
    each axis (:func:`_evenly_spaced`), and set both axes (:func:`_grid_axis`); returns the
    mesh."""
    rows, cols, x_edges, y_edges = _drawn_cells(ds, plane, x, y, max_cells)
    mesh = ax.pcolormesh(x_edges, y_edges, values[np.ix_(rows, cols)], shading="flat", **style)
    _grid_axis(ax, ds, plane, x, "x")
    _grid_axis(ax, ds, plane, y, "y")
    return mesh


def _evenly_spaced(n: int, most: int | None) -> np.ndarray:
    """Positions of at most ``most`` of ``n`` cells, evenly spaced, the first and last
    included (all of them if ``most`` is None)."""
    if most is None or n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(int))


def _trajectories(ds: xr.Dataset, points: Sequence[Mapping[str, Any]],
                  labels: Sequence[str] | None) -> list[tuple[xr.Dataset, Regime, str]]:
    """Each point's trajectory (the nearest grid point), its regime and its curve's label."""
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
        if int(sel["regime"]) == NOT_COMPUTED:
            raise ValueError(f"points[{i}] = {dict(point)} was not computed: the store is "
                             "incomplete (rerun its sweep to finish it)")
        regime = Regime(int(sel["regime"]))
        text = labels[i] if labels else ", ".join(
            f"{k.replace('_', ' ')}={float(sel[k]):.3g}" for k in point)
        out.append((sel, regime, f"{text} ({regime.name.lower()})"))
    return out


def _records_needed(ds: xr.Dataset, variable: str, what: str) -> None:
    if variable not in ds:
        raise ValueError(f"the Dataset has no {what} ({variable!r}): it was returned or read "
                         "with records=False; read them with lrscape.open(store, isel=...)")


def loss_curves(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]],
    *,
    ax: Any = None,
    variable: str = "loss_mean",
    labels: Sequence[str] | None = None,
) -> Any:
    """Recorded losses against steps for selected trajectories (nearest grid points).

    Args:
        points: one mapping of grid-axis values per curve, e.g. ``[{"learning_rate": 0.01}]``.
        variable: ``"loss_mean"`` (window means) or ``"loss_last"`` (snapshots).
    """
    if variable not in ("loss_mean", "loss_last"):
        raise ValueError(f"`variable` must be 'loss_mean' or 'loss_last', got {variable!r}")
    _records_needed(ds, variable, "records")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4.5), constrained_layout=True)
    steps = ds["step"].values
    ends, kept = [], []  # the diverged runs' last records; every other run's records
    for sel, regime, label in _trajectories(ds, points, labels):
        values = np.where(sel[variable].values > 0, sel[variable].values, np.nan)
        if regime == Regime.DIVERGED:
            step = int(sel["divergence_step"])
            label += f", diverged at step {step}" if step >= 0 else ", still growing at the end"
        ax.plot(steps, values, color=REGIME_COLORS[regime], alpha=0.9, lw=1.5, label=label)
        finite = np.flatnonzero(np.isfinite(values))
        if regime == Regime.DIVERGED and finite.size:
            ends.append((steps[finite[-1]], values[finite[-1]], REGIME_COLORS[regime]))
        else:
            kept.append(values[finite])
    ax.set_yscale("log")
    _mark_diverged_ends(ax, ends, np.concatenate(kept) if kept else np.array([]))
    ax.set_xlabel("step")
    window = ds.attrs.get("record_every", "k")
    what = "minibatch loss" if ds.attrs.get("steps_per_epoch") else "loss"
    ax.set_ylabel(f"{what}, mean over each window of {window} steps" if variable == "loss_mean"
                  else f"{what} at each record step")
    ax.legend(fontsize=8)
    return ax


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
    points: Sequence[Mapping[str, Any]],
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

        from . import schedules

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
    points: Sequence[Mapping[str, Any]],
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


def representative_points(ds: xr.Dataset, x: str, y: str | None) -> list[dict[str, float]]:
    """One grid point per regime present, calmest first (:data:`DISPLAY_ORDER`), from the
    middle of that regime's region; of its clear-cut points where it has any (a Dataset with
    ``label_margin``: :func:`borderline_labels`)."""
    plane_dims = [d for d in (x, y) if d]
    regimes = ds["regime"].transpose(*plane_dims).values
    marks = borderline_labels(ds)
    unsure = (marks[0].transpose(*plane_dims).values if marks is not None
              else np.zeros(regimes.shape, bool))
    points = []
    for r in DISPLAY_ORDER:
        idx = np.argwhere((regimes == r) & ~unsure)
        if not idx.size:
            idx = np.argwhere(regimes == r)
        if idx.size:
            pick = idx[len(idx) // 2]
            points.append({d: float(ds[d].values[i]) for d, i in zip(plane_dims, pick,
                                                                       strict=True)})
    return points


def summary_figure(
    ds: xr.Dataset,
    path: str | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    select: Mapping[str, Any] | None = None,
    store: str | os.PathLike[str] | None = None,
) -> Any:
    """The phase diagram beside loss curves of one trajectory per regime; saved if ``path``.

    A sweep run with ``curvature_every`` also gets the sharpness along the same trajectories,
    below their losses, each against its stability threshold (:func:`sharpness_curves`); one
    run with ``lyapunov`` gets the Lyapunov exponent over the same axes, below the phase
    diagram (:func:`lyapunov_map`).

    ``store``: the results store ``ds`` was read from with ``lrscape.open(store,
    records=False)`` (a store larger than memory): the records of the trajectories drawn are
    then read from it, and only theirs.
    """
    x, y = plane_axes(ds, x, y)
    plane = _select_plane(ds, [a for a in (x, y) if a], select)
    points = representative_points(plane, x, y)
    curves = plane
    if store is not None and "loss_mean" not in plane and points:
        curves = _select_plane(_records_of(ds, store, points, select),
                               [a for a in (x, y) if a], select)
    extras = [name for name, variable in (("sharpness", "sharpness"), ("epochs", "val_loss"))
              if variable in curves]
    maps = ["phase", *(["lyapunov"] if "lyapunov" in plane else [])]
    if y is not None:  # the diagram (and the Lyapunov map) on the left, the curves on the right
        right_column = ["loss", *extras]
        rows = math.lcm(len(maps), len(right_column))
        layout = [[maps[i * len(maps) // rows], right_column[i * len(right_column) // rows]]
                  for i in range(rows)]
        height = 6.2 + 2.8 * max(len(extras), 2 * (len(maps) - 1))
        fig, panels = plt.subplot_mosaic(layout, figsize=(14, height), constrained_layout=True,
                                         gridspec_kw={"width_ratios": [1.2, 1]})
    else:  # a strip along the learning rate (and the Lyapunov exponent), the curves below
        width = 1 + len(extras)
        layout = [[name] * width for name in maps] + [["loss", *extras]]
        fig, panels = plt.subplot_mosaic(
            layout, figsize=(9 + 5 * len(extras), 7.5 + 3 * (len(maps) - 1)),
            constrained_layout=True, gridspec_kw={"height_ratios": [1, 2][:len(maps)] + [3]})
    left, right = panels["phase"], panels["loss"]
    phase_diagram(plane, x, y, ax=left)
    if "lyapunov" in panels:
        lyapunov_map(plane, x, y, ax=panels["lyapunov"])
    if "loss_mean" in curves:
        loss_curves(curves, points, ax=right)
    elif store is None:
        right.text(0.5, 0.5, "no records in this Dataset (records=False):\npass the store "
                   "it was written to as `store`", ha="center", va="center",
                   transform=right.transAxes)
        right.set_axis_off()
    right.set_title("loss along one trajectory of each regime")
    if "sharpness" in extras:
        sharpness_curves(curves, points, ax=panels["sharpness"])
        panels["sharpness"].set_title("sharpness, against the edge of stability (dashed)")
    if "epochs" in extras:
        epoch_curves(curves, points, ax=panels["epochs"])
        panels["epochs"].set_title("per epoch: training mean, validation snapshot")
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    return fig


def _records_of(ds: xr.Dataset, store: str | os.PathLike[str],
                points: Sequence[Mapping[str, float]], select: Mapping[str, Any] | None
                ) -> xr.Dataset:
    """The sub-grid of ``store`` that holds ``points`` (and the ``select`` slice), records
    included."""
    from .store import open as open_store

    positions = {}
    for axis in grid_axes(ds):
        values = [p[axis] for p in points] if axis in points[0] else [dict(select or {})[axis]]
        positions[axis] = sorted(set(ds.indexes[axis].get_indexer(values, method="nearest")))
    return open_store(store, isel=positions)


TRAINABLE_LABELS = {True: "trains (last 20 losses below the first, on average)",
                    False: "does not train (diverges or stalls)"}


def trainability_shades(score: np.ndarray, trainable: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] for an image of the trainability score: trained pixels in [-1, -0.2]
    and the rest in [0.2, 1], each side ranked so its whole shade range is used (faster
    training and faster divergence darker); pixels with no score (NaN, not simulated) take
    their side's middle shade."""
    score, trainable = np.asarray(score, float), np.asarray(trainable, bool)
    shades = np.where(trainable, -0.6, 0.6)
    for side, sign in ((trainable, -1.0), (~trainable, 1.0)):
        known = side & np.isfinite(score)
        if known.sum() > 1:
            # Both sides: a smaller score is faster (training: more negative -sum v;
            # diverging: a smaller sum of 1/v), and darker.
            order = np.argsort(np.argsort(score[known]))
            shades[known] = sign * (1.0 - 0.8 * order / (known.sum() - 1))
    return shades


def trainability_image(
    ds: xr.Dataset, ax: Any = None, *, relative: bool = False, title: str | None = None,
) -> Any:
    """The trainability image of a 2-D Dataset from :func:`lrscape.sweep` (with
    ``trainability=True``) or :func:`lrscape.refine`: blue where training converges, red where
    it does not, shaded by the score where every pixel has one (a brute-force grid; a refined
    image shows the two classes).

    ``relative``: label the axes in decades from the image's centre (for zoom frames, whose
    absolute coordinates differ in their 13th digit).
    """
    ax = ax or plt.gca()
    rows, cols = (d for d in ds["trainable"].dims)
    score = ds["trainability"].values if "trainability" in ds else None
    if score is None or not np.isfinite(score).all():
        # A refined image has scores only where it ran: shading those alone would speckle it.
        score = np.full(ds["trainable"].shape, np.nan)
    shades = trainability_shades(score, ds["trainable"].values)
    if relative:
        half = float(ds.attrs.get("half_width", 1.0))
        ax.imshow(shades, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1,
                  extent=(-half, half, -half, half), interpolation="nearest")
        ax.set_xlabel(f"{_label(ds, cols).replace(' (log scale)', '')}: decades from centre")
        ax.set_ylabel(f"{_label(ds, rows).replace(' (log scale)', '')}: decades from centre")
    else:
        x_edges = _edges(ds[cols].values, _is_log(ds, cols))
        y_edges = _edges(ds[rows].values, _is_log(ds, rows))
        ax.pcolormesh(x_edges, y_edges, shades, cmap="RdBu_r", vmin=-1, vmax=1,
                      rasterized=True)
        if _is_log(ds, cols):
            ax.set_xscale("log")
        if _is_log(ds, rows):
            ax.set_yscale("log")
        ax.set_xlabel(_label(ds, cols))
        ax.set_ylabel(_label(ds, rows))
    if title is not None:
        ax.set_title(title)
    cmap = plt.get_cmap("RdBu_r")
    ax.legend(handles=[Patch(color=cmap(0.15), label=TRAINABLE_LABELS[True]),
                       Patch(color=cmap(0.85), label=TRAINABLE_LABELS[False])],
              loc="lower left", fontsize="x-small", framealpha=0.85)
    return ax


def _exhausted_panel(frame: xr.Dataset, ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"float64 exhausted\n±{frame.attrs['half_width']:.0e} decades:\n"
                      f"{frame.attrs['ulps_per_pixel']:.1f} float64 steps per pixel\n"
                      "(not drawn)", ha="center", va="center", transform=ax.transAxes)


def zoom_figure(frames: Sequence[xr.Dataset], path: str | None = None, *,
                columns: int = 4) -> Any:
    """The frames of :func:`lrscape.refine.zoom` side by side; frames past float64's
    resolution say so instead of showing noise."""
    n = len(frames)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    for ax, frame in zip(axes.ravel(), frames, strict=False):
        half = frame.attrs["half_width"]
        ax.set_title(f"frame {frame.attrs['frame']}: ±{half:.1e} decades", fontsize="small")
        if frame.attrs.get("float64_exhausted"):
            _exhausted_panel(frame, ax)
        else:
            trainability_image(frame, ax, relative=True)
            ax.get_legend().remove()
            ax.xaxis.label.set_fontsize("x-small")
            ax.yaxis.label.set_fontsize("x-small")
    for ax in axes.ravel()[n:]:
        ax.remove()
    first = frames[0].attrs
    fig.suptitle(f"zoom into the trainability boundary, centred near "
                 f"({first['centre_row']:.4g}, {first['centre_col']:.4g}); blue trains, red "
                 "does not", fontsize="medium")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def zoom_animation(frames: Sequence[xr.Dataset], path: str, *, fps: float = 1.5) -> None:
    """The zoom as an animated GIF (one frame per zoom frame)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(5, 5))

    def draw(k: int) -> None:
        ax.clear()
        frame = frames[k]
        ax.set_title(f"frame {k}: ±{frame.attrs['half_width']:.1e} decades", fontsize="small")
        if frame.attrs.get("float64_exhausted"):
            _exhausted_panel(frame, ax)
        else:
            trainability_image(frame, ax, relative=True)

    animation = FuncAnimation(fig, draw, frames=len(frames))
    animation.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)


def box_counting_plot(fit: Any, ax: Any = None, *, label: str = "boundary") -> Any:
    """Box counts N(s) against box side s (log-log) with the fitted slope over its range."""
    ax = ax or plt.gca()
    line = ax.loglog(fit.sizes, fit.counts, "o", label=f"{label}: N(s)")[0]
    lo, hi = fit.fit_range
    inside = (fit.sizes >= lo) & (fit.sizes <= hi)
    sizes = fit.sizes[inside]
    anchor = np.exp(np.mean(np.log(fit.counts[inside]) + fit.dimension * np.log(sizes)))
    ax.loglog(sizes, anchor * sizes ** -fit.dimension, "-", color=line.get_color(),
              label=f"{label}: D = {fit.dimension:.2f} ± {fit.stderr:.2f} (s = {lo}..{hi})")
    ax.set_xlabel("box side s (pixels, log scale)")
    ax.set_ylabel("boxes holding boundary, N(s) (log scale)")
    ax.legend(fontsize="x-small")
    return ax
