"""The summary figure: the phase diagram beside what one trajectory of each regime did."""

from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ..regimes import DISPLAY_ORDER, Regime
from ..rerun import NotRebuildable, check_points, rerun
from ._axes import _is_log, _select_plane, _span, grid_axes, plane_axes, positions
from ._curves import epoch_curves, loss_curves, sharpness_curves
from ._lyapunov import lyapunov_map
from ._path_data import LETTERS
from ._paths import animate_paths, movie_writer
from ._paths import paths as draw_paths
from ._phase import borderline_labels, phase_diagram


def representative_points(ds: xr.Dataset, x: str, y: str | None) -> list[dict[str, float]]:
    """One grid point per regime present, calmest first (:data:`DISPLAY_ORDER`), from the
    middle of that regime's region; of its clear-cut points where it has any (a Dataset with
    ``label_margin``: :func:`borderline_labels`). A diverging trajectory is taken where it
    lasts longer than most (the 90th percentile of ``divergence_step``), so that its path
    shows a few growing swings before it leaves, not one jump out of the picture."""
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
            if r == Regime.DIVERGED and "divergence_step" in ds:
                pick = _long_lasting(ds["divergence_step"].transpose(*plane_dims).values, idx)
            points.append({d: float(ds[d].values[i]) for d, i in zip(plane_dims, pick,
                                                                       strict=True)})
    return points


def _long_lasting(divergence_step: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Of the grid indices ``idx``, the one at the 90th percentile of the divergence step
    (steps before the loss left its bound; runs found diverging only at the end excluded)."""
    steps = divergence_step[tuple(idx.T)]
    timed = np.flatnonzero(steps >= 0)
    if not timed.size:
        return idx[len(idx) // 2]
    order = timed[np.argsort(steps[timed], kind="stable")]
    return idx[order[min(int(0.9 * len(order)), len(order) - 1)]]


def summary_figure(
    ds: xr.Dataset,
    path: str | None = None,
    *,
    x: str | None = None,
    y: str | None = None,
    select: Mapping[str, Any] | None = None,
    store: str | os.PathLike[str] | None = None,
    points: Sequence[Mapping[str, float]] | None = None,
    paths: bool = True,
    animate: str | None = None,
    frames: int = 60,
) -> Any:
    """The phase diagram beside what chosen trajectories did; saved if ``path``.

    The trajectories are one per regime (:func:`representative_points`), or ``points`` (a
    value on each axis drawn, within the grid; the others at ``select``'s). Each gets a
    letter, marked where it lies on the phase diagram and naming its loss curve and its path,
    all in its regime's colour. The path panel shows where they went over the loss contours
    (:func:`lrscape.plot.paths`), wherever the sweep has a path plane (every landscape of two
    or more coordinates; on one coordinate, a line). ``points`` are run again exactly where
    they are (:func:`lrscape.rerun`, a sweep of a few points), and so are the representative
    ones where the sweep kept no paths and the panel is wanted; the curves drawn are then the
    run's. Where the sweep cannot be rebuilt in this process (a landscape class not
    registered here), the path panel says so. ``paths=False`` leaves it out; ``animate``
    also writes the paths moving (:func:`lrscape.plot.animate_paths`), in ``frames`` frames,
    to that ``.gif`` or ``.mp4``.

    A sweep run with ``curvature_every`` also gets the sharpness along the same trajectories,
    each against its stability threshold (:func:`sharpness_curves`); one on a finite-sum
    landscape their epoch logs; one run with ``lyapunov`` the Lyapunov exponent over the same
    axes, below the phase diagram (:func:`lyapunov_map`).

    ``store``: the results store ``ds`` was read from with ``lrscape.open(store,
    records=False)`` (a store larger than memory): the records of the trajectories drawn are
    then read from it, and only theirs.
    """
    x, y = plane_axes(ds, x, y)
    drawn_axes = [a for a in (x, y) if a]
    plane = _select_plane(ds, drawn_axes, select)
    if animate is not None:
        movie_writer(animate, 15.0)  # a bad path is refused before anything is drawn
    given = points is not None
    chosen = _given_points(plane, points, drawn_axes) if given else representative_points(
        plane, x, y)
    letters = list(LETTERS[:len(chosen)])
    labels = [f"{letter}: " + ", ".join(f"{k.replace('_', ' ')}={v:.3g}" for k, v in p.items())
              for letter, p in zip(letters, chosen, strict=True)]
    source = _source(ds, plane, drawn_axes, chosen, select, store, paths, given)
    extras = [name for name, wanted in (
        ("paths", paths and chosen and ("path" in source.curves or source.note)),
        ("sharpness", "sharpness" in source.curves), ("epochs", "val_loss" in source.curves))
        if wanted]
    maps = ["phase", *(["lyapunov"] if "lyapunov" in plane else [])]
    fig, panels = _layout(maps, extras, y is not None)
    left, right = panels["phase"], panels["loss"]
    phase_diagram(plane, x, y, ax=left)
    mark_points(left, plane, chosen, letters, x, y)
    if "lyapunov" in panels:
        lyapunov_map(plane, x, y, ax=panels["lyapunov"])
    curves, which = source.curves, source.which
    if "loss_mean" in curves and chosen:
        loss_curves(curves, which, ax=right, labels=labels)
    elif store is None:
        right.text(0.5, 0.5, "no records in this Dataset (records=False):\npass the store "
                   "it was written to as `store`", ha="center", va="center",
                   transform=right.transAxes)
        right.set_axis_off()
    right.set_title("loss along each lettered trajectory (marked on the phase diagram)")
    if "paths" in extras:
        path_panel(source, panels["paths"], labels, letters)
    if "sharpness" in extras:
        sharpness_curves(curves, which, ax=panels["sharpness"], labels=labels)
        panels["sharpness"].set_title("sharpness, against the edge of stability (dashed)")
    if "epochs" in extras:
        epoch_curves(curves, which, ax=panels["epochs"], labels=labels)
        panels["epochs"].set_title("per epoch: training mean, validation snapshot")
    if path is not None:
        fig.savefig(path, dpi=130)
        plt.close(fig)
    if animate is not None:
        if "path" not in curves:
            raise ValueError(f"no paths to animate: {source.note or 'the panel is left out'}")
        animate_paths(curves, which, animate, frames=frames, letters=letters,
                      labels=[label.split(": ", 1)[1] for label in labels])
    return fig


class Source(NamedTuple):
    """Where the drawn trajectories' records come from: the Dataset, the points to select in
    it (``None``: every point of a Dataset of points), and, where paths were wanted but cannot
    be drawn, why."""

    curves: xr.Dataset
    which: list[dict[str, float]] | None
    note: str = ""


def path_panel(source: Source, ax: Any, labels: Sequence[str], letters: Sequence[str]
               ) -> None:
    """The summary figure's path panel: the lettered paths, their labels being the loss
    panel's; or why there are none."""
    if "path" not in source.curves:
        ax.text(0.5, 0.5, "\n".join(textwrap.wrap(f"no paths: {source.note}", 60)),
                ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.3")
        ax.set_axis_off()
        return
    draw_paths(source.curves, source.which, ax,
               labels=[label.split(": ", 1)[1] for label in labels], letters=letters,
               legend="markers")


def _given_points(plane: xr.Dataset, points: Sequence[Mapping[str, float]],
                  drawn: Sequence[str]) -> list[dict[str, float]]:
    """``points`` checked for the phase diagram: a finite value on each axis drawn and no
    other, within the grid (half a cell beyond its ends at most), so that its letter can
    stand where it is."""
    check_points(points)
    chosen = []
    for i, point in enumerate(points):
        if sorted(point) != sorted(drawn):
            raise ValueError(f"points[{i}] = {dict(point)} must give a value on each axis "
                             f"drawn, {', '.join(drawn)}, and only those (the others are at "
                             "`select`'s values)")
        for axis, value in point.items():
            values = np.asarray(plane[axis].values, dtype=float)
            if isinstance(value, bool) or not isinstance(value, int | float | np.number) or (
                    not np.isfinite(value)):
                raise ValueError(f"points[{i}][{axis!r}] must be a finite number, got "
                                 f"{value!r}")
            low, high = _span(values, _is_log(plane, axis))
            if not low <= value <= high:
                raise ValueError(f"points[{i}][{axis!r}] = {value!r} is outside the grid's "
                                 f"{axis} axis, {values.min():g} to {values.max():g}: the "
                                 "phase diagram could not mark it")
        chosen.append({axis: float(point[axis]) for axis in drawn})
    return chosen


def _source(ds: xr.Dataset, plane: xr.Dataset, keep: Sequence[str],
            chosen: Sequence[Mapping[str, float]], select: Mapping[str, Any] | None,
            store: str | os.PathLike[str] | None, paths: bool, given: bool) -> Source:
    """Where the drawn trajectories come from (see :class:`Source`): points given are run
    again exactly (an error where that cannot be done); one per regime comes from the sweep's
    records, with their paths where it kept them, else, with ``paths``, run again (and where
    that cannot be done, the records alone and the reason)."""
    if not chosen:
        return Source(plane, [])
    if given:
        return Source(rerun(plane, chosen), None)
    note = ""
    if paths and not ds.attrs.get("path_every"):
        try:
            return Source(rerun(plane, chosen), None)
        except NotRebuildable as err:
            note = str(err)
    curves = plane
    if store is not None and "loss_mean" not in plane:
        curves = _select_plane(_records_of(ds, store, chosen, select), keep, select)
    return Source(curves, [dict(p) for p in chosen], note)


def _layout(maps: Sequence[str], extras: Sequence[str], two_axes: bool) -> tuple[Any, Any]:
    """The figure and its panels: the maps (the phase diagram, the Lyapunov map) on the left
    and the curves (loss, paths, extras) on the right, or for a strip, the maps above and the
    curves side by side below, filling the width."""
    right_column = ["loss", *extras]
    if two_axes:
        rows = math.lcm(len(maps), len(right_column))
        layout = [[maps[i * len(maps) // rows], right_column[i * len(right_column) // rows]]
                  for i in range(rows)]
        height = 6.2 + 3.4 * max(len(right_column) - 1, 2 * (len(maps) - 1))
        return plt.subplot_mosaic(layout, figsize=(15, height), constrained_layout=True,
                                  gridspec_kw={"width_ratios": [1.15, 1]})
    width = len(right_column)
    layout = [[name] * width for name in maps] + [right_column]
    return plt.subplot_mosaic(
        layout, figsize=(7 + 5.5 * width, 7.5 + 3 * (len(maps) - 1)), constrained_layout=True,
        gridspec_kw={"height_ratios": [1, 2][:len(maps)] + [3]})


def mark_points(ax: Any, ax_ds: xr.Dataset, points: Sequence[Mapping[str, float]],
                letters: Sequence[str], x: str, y: str | None) -> None:
    """Each point's letter in a white circle where it lies on the phase diagram of ``ax_ds``
    (of ``x`` across and ``y`` up, or a strip along ``x``)."""
    for point, letter in zip(points, letters, strict=True):
        at = (float(positions(ax_ds, x, [point[x]])[0]),
              float(positions(ax_ds, y, [point[y]])[0]) if y is not None else 0.5)
        ax.annotate(letter, at, ha="center", va="center", fontsize=8, fontweight="bold",
                    zorder=9, annotation_clip=False,
                    bbox={"boxstyle": "circle,pad=0.2", "fc": "white", "ec": "black",
                          "lw": 1.0})


def _records_of(ds: xr.Dataset, store: str | os.PathLike[str],
                points: Sequence[Mapping[str, float]], select: Mapping[str, Any] | None
                ) -> xr.Dataset:
    """The sub-grid of ``store`` that holds ``points`` (and the ``select`` slice), records
    included."""
    from ..store import open as open_store

    positions = {}
    for axis in grid_axes(ds):
        values = [p[axis] for p in points] if axis in points[0] else [dict(select or {})[axis]]
        positions[axis] = sorted(set(ds.indexes[axis].get_indexer(values, method="nearest")))
    return open_store(store, isel=positions)
