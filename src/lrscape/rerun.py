"""Run chosen trajectories of a finished sweep again, observing more of them.

A sweep's Dataset (and its store) holds the whole configuration in its attributes.
:func:`rerun` rebuilds the experiment from them and runs a list of points, on the grid or
between its values, with other observations: by default the sweep's own, plus every update's
position in the sweep's path plane (``Observe(path_every=1)``), which is what a picture of a
bouncing path needs and what a large sweep does not store. It returns the points' Dataset
(dimension ``point``), as ``lrscape.sweep(points=...)`` does.

Every trajectory is a pure function of its configuration, so a grid point runs again the
trajectory the sweep ran, with the same label; a program that records more may round its last
bits differently, which a chaotic trajectory amplifies within a few dozen updates (as it would
between any two runs), so a chaotic path is one path of the same chaotic orbit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from . import landscapes, optimizers, paths, schedules
from .experiment import Experiment
from .landscapes import Landscape
from .observe import Observe
from .optimizers import Optimizer
from .regimes import Thresholds
from .schedules import Schedule

#: The attributes a rebuilt experiment must reproduce exactly: what was simulated.
REBUILT = ("landscape", "landscape_config", "optimizer", "optimizer_config", "schedule",
           "schedule_config", "steps", "seed", "x0", "thresholds", "dtype", "gradient_noise")


def rerun(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, float]],
    *,
    observe: Observe | None = None,
    landscape: Landscape | None = None,
    optimizer: str | Optimizer | Callable[..., Any] | None = None,
    schedule: Schedule | Callable[[Any], Any] | None = None,
    **sweep_options: Any,
) -> xr.Dataset:
    """The trajectories of ``ds``'s sweep at ``points``, run again with ``observe``.

    Args:
        ds: a sweep's Dataset, as :func:`lrscape.sweep` returns it or :func:`lrscape.open`
            reads it (a slice of one too: its grid axes held at one value count as given).
        points: one mapping per trajectory from grid axis to value, e.g.
            ``[{"learning_rate": 0.02, "momentum": 0.8}]``; any values, not only the grid's.
        observe: what to record (default: the sweep's own observations, with
            ``path_every=1`` in the sweep's path plane).
        landscape, optimizer, schedule: the sweep's, where its attributes cannot rebuild them
            (a landscape class not registered in this process, an optax factory, a schedule
            given as a function); checked against what the attributes record.
        sweep_options: further keywords of :func:`lrscape.sweep` (``devices``, ...).

    Returns:
        The Dataset of the points (dimension ``point``, each grid axis a coordinate along it).
    """
    from .sweep import sweep

    settings = rebuilt_settings(ds, landscape=landscape, optimizer=optimizer,
                                schedule=schedule)
    columns = point_columns(ds, points)
    observe = default_observe(ds) if observe is None else observe
    sweep_options.setdefault("progress", False)
    return sweep(**settings, points=columns, observe=observe, **sweep_options)


def grid_targets(ds: xr.Dataset) -> dict[str, str]:
    """What each grid axis of the sweep sweeps (``"owner.field"``), by axis name."""
    return dict(json.loads(ds.attrs.get("grid_axes", "[]")))


def point_columns(ds: xr.Dataset, points: Sequence[Mapping[str, float]]
                  ) -> dict[str, list[float]]:
    """``points`` as one list of values per grid axis, each point checked: every axis given,
    or held at one value in ``ds`` (a slice)."""
    axes = list(grid_targets(ds))
    if not axes:
        raise ValueError("the Dataset names no grid axes (`grid_axes`): it is not a sweep's")
    check_points(points)
    columns: dict[str, list[float]] = {axis: [] for axis in axes}
    for i, point in enumerate(points):
        if unknown := [k for k in point if k not in axes]:
            raise ValueError(f"points[{i}] names {unknown}, which are not grid axes of the "
                             f"sweep: {axes}")
        for axis in axes:
            if axis in point:
                value = point[axis]
            elif axis in ds.coords and ds[axis].ndim == 0:
                value = ds[axis].item()
            else:
                raise ValueError(f"points[{i}] = {dict(point)} leaves the grid axis {axis!r} "
                                 f"unset: give every point a value on each of {axes}")
            if isinstance(value, bool) or not isinstance(value, int | float | np.number) or (
                    not np.isfinite(value)):
                raise ValueError(f"points[{i}][{axis!r}] must be a finite number, got "
                                 f"{value!r}")
            columns[axis].append(float(value))
    return columns


def check_points(points: Any) -> None:
    """Refuse anything but a non-empty list of mappings (one per trajectory)."""
    if (isinstance(points, Mapping | str) or not isinstance(points, Sequence) or not points
            or not all(isinstance(p, Mapping) for p in points)):
        raise ValueError(f"`points` must be a non-empty list of mappings from grid axis to "
                         f"value, e.g. [{{'learning_rate': 0.01}}], got {points!r}")


def default_observe(ds: xr.Dataset) -> Observe:
    """The sweep's own observations (so that its records and labels come out the same), with
    every update's position recorded in its path plane."""
    attrs = ds.attrs
    curvature_every = int(attrs.get("curvature_every", 0) or 0) or None
    measured = {}
    if curvature_every is not None:
        measured = {"curvature_iters": int(attrs["curvature_iters"]),
                    "curvature_k": int(attrs["curvature_k"])}
    return Observe(record_every=int(attrs.get("record_every", 10)),
                   curvature_every=curvature_every, **measured,
                   lyapunov=bool(attrs.get("lyapunov", 0)),
                   keep_tail=bool(attrs.get("keep_tail", 0)),
                   trainability=bool(attrs.get("trainability", 0)),
                   best=bool(attrs.get("best", 0)),
                   path_every=1, path_plane=stored_plane(ds) or "auto")


def stored_plane(ds: xr.Dataset) -> paths.Plane | None:
    """The path plane a sweep recorded its paths in, from its coordinates (``None`` if it
    recorded none)."""
    if "path_basis" not in ds.coords:
        return None
    kind = str(ds.attrs.get("path_plane", "given")).partition(":")[0]
    return paths.Plane(ds["path_basis"].values, ds["path_origin"].values,
                       kind=kind if kind in paths.KINDS else "given")


class NotRebuildable(ValueError):
    """The sweep cannot be rebuilt from its attributes in this process (a landscape class not
    registered here, an optax factory, a schedule given as a function) or not exactly."""


def rebuilt_settings(
    ds: xr.Dataset, *, landscape: Landscape | None = None,
    optimizer: str | Optimizer | Callable[..., Any] | None = None,
    schedule: Schedule | Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """The keywords of :func:`lrscape.sweep` that rebuild what ``ds``'s sweep simulated
    (landscape, optimizer, schedule, steps, seed, start, noise, thresholds, dtype), checked to
    reproduce its recorded configuration exactly (fields its grid sweeps aside);
    :class:`NotRebuildable` where they cannot."""
    attrs = ds.attrs
    if "landscape_config" not in attrs:
        raise ValueError("the Dataset has no sweep configuration in its attributes: it is not "
                         "what lrscape.sweep returned or lrscape.open read")
    settings = {
        "landscape": landscape if landscape is not None else landscape_of(attrs),
        "optimizer": optimizer if optimizer is not None else optimizer_of(attrs),
        "schedule": schedule if schedule is not None else schedule_of(attrs),
        "steps": int(attrs["steps"]),
        "seed": int(attrs["seed"]),
        "x0": None if attrs.get("x0", "landscape.init") == "landscape.init"
        else json.loads(attrs["x0"]),
        "thresholds": Thresholds(**json.loads(attrs["thresholds"])),
        "dtype": np.dtype(attrs["dtype"]),
        "gradient_noise": (0.0 if attrs.get("gradient_noise") == "axis"
                           else float(attrs.get("gradient_noise", 0.0))),
    }
    _check_same(ds, settings)
    return settings


def landscape_of(attrs: Mapping[str, Any]) -> Landscape:
    """The registered landscape the attributes name, with their fields."""
    name = attrs["landscape"]
    if name not in landscapes.available():
        raise NotRebuildable(
            f"the sweep's landscape {name!r} is not registered in this process: import the "
            "module that registers it (--import FILE on the command line), or pass it as "
            "`landscape`")
    return landscapes.get(name, **json.loads(attrs["landscape_config"]))


def landscape_at(ds: xr.Dataset, point: Mapping[str, float]) -> Landscape | None:
    """The sweep's landscape with the fields that its grid sweeps set to ``point``'s values;
    ``None`` where its class is not registered in this process."""
    try:
        landscape = landscape_of(ds.attrs)
    except NotRebuildable:
        return None
    fields = {target.split(".", 1)[1]: point[name] for name, target in grid_targets(ds).items()
              if target.startswith("landscape.") and name in point}
    return landscape.replace(**fields) if fields else landscape


def optimizer_of(attrs: Mapping[str, Any]) -> Optimizer:
    """The registered optimizer the attributes name, with their hyperparameters and options,
    checked to be the one stored (an optax factory of a registered name is not)."""
    name = attrs["optimizer"]
    if name not in optimizers.available():
        raise NotRebuildable(f"the sweep's optimizer {name!r} is not in lrscape's registry (an "
                             "optax factory): pass it as `optimizer`")
    stored = json.loads(attrs["optimizer_config"])
    values = {k: v for k, v in stored.get("hyperparams", {}).items() if v is not None}
    try:
        built = optimizers.get(name).with_values(**values, **stored.get("options", {}))
    except ValueError:
        built = None
    if built is None or _plain(json.dumps(built.config())) != stored:
        raise NotRebuildable(f"the sweep's optimizer {name!r} is not the registry's {name!r} "
                             "(an optax factory of that name, or other options): pass it as "
                             "`optimizer`")
    return built


def schedule_of(attrs: Mapping[str, Any]) -> Schedule | None:
    """The registered schedule the attributes name, with their fields (``None``: constant)."""
    name = attrs.get("schedule", "constant")
    if name == "constant":
        return None
    if name not in schedules.available():
        raise NotRebuildable(f"the sweep's schedule {name!r} is a function or not registered "
                             "in this process: pass it as `schedule`")
    return schedules.get(name, **json.loads(attrs.get("schedule_config", "{}")))


def _check_same(ds: xr.Dataset, settings: Mapping[str, Any]) -> None:
    """Refuse settings whose experiment is not the one ``ds`` records (compared on one point,
    over every attribute that says what was simulated, but for the fields its grid sweeps)."""
    targets = grid_targets(ds)
    probe = {name: [_any_value(ds, name)] for name in targets}
    window = Observe(record_every=int(ds.attrs.get("record_every", 1)))
    built = Experiment.create(**settings, points=probe, observe=window).attrs()
    swept = set(targets.values())
    differ = [k for k in REBUILT if k in ds.attrs and _comparable(k, built.get(k), swept)
              != _comparable(k, ds.attrs[k], swept)]
    if differ:
        details = "; ".join(f"{k}: stored {_short(ds.attrs[k])}, rebuilt {_short(built.get(k))}"
                            for k in differ)
        raise NotRebuildable(f"the sweep cannot be rebuilt from its attributes exactly "
                             f"({details}); pass what differs as `landscape`, `optimizer` or "
                             "`schedule`")


def _comparable(key: str, value: Any, swept: set[str]) -> Any:
    """An attribute as it compares: parsed, without the fields the grid sweeps (their base
    value does not matter)."""
    value = _plain(value)
    owner = key.removesuffix("_config")
    if isinstance(value, dict) and owner != key:
        fields = value.get("hyperparams", value) if owner == "optimizer" else value
        fields = {k: v for k, v in fields.items() if f"{owner}.{k}" not in swept}
        value = {**value, "hyperparams": fields} if owner == "optimizer" else fields
    return value


def _short(value: Any, most: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= most else text[: most - 3] + "..."


def _any_value(ds: xr.Dataset, axis: str) -> float:
    values = np.asarray(ds[axis].values).ravel() if axis in ds.coords else np.array([0.0])
    return float(values[0])


def _plain(value: Any) -> Any:
    """A stored attribute as it compares: JSON strings parsed, numbers as floats."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if isinstance(value, bool | int | float | np.number) and not isinstance(value, bool):
        return float(value)
    return value

