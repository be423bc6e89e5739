"""Grid axes on a figure: which axes are drawn, their cells, scales, ticks, labels and titles."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from ..grid import is_log_spaced


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
    if is_categorical(ds, name):
        return f"{text} (one cell per value simulated)"
    return f"{text} (log scale)" if _is_log(ds, name) else text


def is_categorical(ds: xr.Dataset, name: str) -> bool:
    """Whether the grid axis ``name`` is drawn as categories: equal cells, one per value,
    ticked with the values. For a short axis (at most :data:`MAX_TICKED_VALUES` values) that
    is not evenly spaced in its scale, whose cells would otherwise range from slivers to
    blocks (momentum 0, 0.5, 0.9, 0.99)."""
    values = np.asarray(ds[name].values, dtype=float)
    if not 3 <= values.size <= MAX_TICKED_VALUES:
        return False
    scaled = np.log(values) if _is_log(ds, name) and np.all(values > 0) else values
    steps = np.diff(np.sort(scaled))
    return bool(np.ptp(steps) > 1e-6 * max(np.abs(steps).max(), 1e-300))


def positions(ds: xr.Dataset, name: str, values: Any) -> np.ndarray:
    """Where ``values`` of the grid axis ``name`` are drawn: themselves, or on a categorical
    axis (:func:`is_categorical`) their place among the grid's values, ranked from the
    smallest at 0, interpolated between them in the axis's scale and extrapolated beyond (so
    that a theory line between two values is drawn between their columns)."""
    values = np.asarray(values, dtype=float)
    if not is_categorical(ds, name):
        return values
    grid = np.sort(np.asarray(ds[name].values, dtype=float))
    log = _is_log(ds, name) and np.all(grid > 0)
    scale = np.log if log else (lambda v: v)
    with np.errstate(divide="ignore", invalid="ignore"):
        where = scale(np.where(values > 0, values, np.nan) if log else values)
    ranks = np.arange(grid.size, dtype=float)
    inside = np.interp(where, scale(grid), ranks)
    low = (where - scale(grid[0])) / (scale(grid[1]) - scale(grid[0]))
    high = grid.size - 1 + (where - scale(grid[-1])) / (scale(grid[-1]) - scale(grid[-2]))
    return np.where(where < scale(grid[0]), low, np.where(where > scale(grid[-1]), high, inside))


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


def _grid_axis(ax: Any, ds: xr.Dataset, plane: xr.Dataset, name: str, which: str) -> None:
    """Set the ``which`` ("x" or "y") axis of ``ax`` for the grid axis ``name``: its scale,
    label, limits around every cell (increasing whichever way the grid runs) and, for a short
    axis, a tick at each value. The limits stop autoscaling, so overlays drawn later keep
    them."""
    if is_categorical(ds, name):
        _categorical_axis(ax, ds, plane, name, which)
        return
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


def _categorical_axis(ax: Any, ds: xr.Dataset, plane: xr.Dataset, name: str, which: str
                      ) -> None:
    """A categorical axis: equal cells from the smallest value up, a tick at each."""
    values = np.sort(np.asarray(plane[name].values, dtype=float))
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("linear")
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(_label(ds, name))
    (ax.set_xlim if which == "x" else ax.set_ylim)(-0.5, values.size - 0.5)
    axis.set_major_locator(FixedLocator(np.arange(values.size)))
    axis.set_major_formatter(FixedFormatter([f"{v:.3g}" for v in values]))
    axis.set_minor_locator(NullLocator())


def _axis_cells(ds: xr.Dataset, plane: xr.Dataset, name: str, max_cells: int | None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The positions along ``name`` of the cells drawn and their edges: at most ``max_cells``
    (:func:`_evenly_spaced`), or on a categorical axis every one, smallest value first, on
    unit cells."""
    if is_categorical(ds, name):
        order = np.argsort(np.asarray(plane[name].values, dtype=float))
        return order, np.arange(order.size + 1) - 0.5
    chosen = _evenly_spaced(plane.sizes[name], max_cells)
    return chosen, _edges(plane[name].values[chosen], _is_log(ds, name))


def _drawn_cells(ds: xr.Dataset, plane: xr.Dataset, x: str, y: str | None,
                 max_cells: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells drawn of ``y`` by ``x`` (a strip of height 1 for no ``y``): the positions of
    the rows and columns drawn (:func:`_axis_cells`), and their edges."""
    cols, x_edges = _axis_cells(ds, plane, x, max_cells)
    if y is None:
        return np.array([0]), cols, x_edges, np.array([0.0, 1.0])
    rows, y_edges = _axis_cells(ds, plane, y, max_cells)
    return rows, cols, x_edges, y_edges


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
