"""Phase diagrams: each grid point of two axes coloured by its regime, with the theory's
edges and the borderline labels marked."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch

from .. import overlays as theory_lines  # not `overlays`: phase_diagram's argument
from .._fields import require_optional_int
from ..overlays import Overlay
from ..regimes import DISPLAY_ORDER, NOT_COMPUTED, Thresholds
from ._axes import (
    _cells,
    _drawn_cells,
    _grid_axis,
    _select_plane,
    _title,
    grid_axes,
    plane_axes,
    positions,
)
from ._style import (
    _CMAP,
    _NORM,
    _OVERLAY_STYLES,
    NOT_COMPUTED_COLOR,
    NOT_COMPUTED_LABEL,
    REGIME_COLORS,
    regime_labels,
)


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
        _, cols, x_edges, _ = _drawn_cells(ds, plane, x, None, max_cells)
        ax.pcolormesh(x_edges, [0, 1], shown[None, cols], cmap=_CMAP, norm=_NORM,
                      shading="flat")
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
        xs = positions(plane, x, xs)
        if np.all(np.isnan(ys)):
            line = ax.axvline(xs[0], color="black", ls=style, lw=1.5, label=label)
        else:
            (line,) = ax.plot(xs, positions(plane, y, ys), color="black", ls=style, lw=1.5,
                              label=label)
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
