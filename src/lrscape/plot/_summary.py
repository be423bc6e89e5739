"""The summary figure: the phase diagram beside what one trajectory of each regime did."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from ..regimes import DISPLAY_ORDER
from ._axes import _select_plane, grid_axes, plane_axes
from ._curves import epoch_curves, loss_curves, sharpness_curves
from ._lyapunov import lyapunov_map
from ._phase import borderline_labels, phase_diagram


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
    from ..store import open as open_store

    positions = {}
    for axis in grid_axes(ds):
        values = [p[axis] for p in points] if axis in points[0] else [dict(select or {})[axis]]
        positions[axis] = sorted(set(ds.indexes[axis].get_indexer(values, method="nearest")))
    return open_store(store, isel=positions)
