"""Grid axes: building them, parsing them from text, and deciding what each one sweeps.

A grid is an ordered mapping ``name -> 1-D values``. Each name is an optimizer hyperparameter,
a numeric field of the landscape or of the schedule, ``gradient_noise`` or ``seed``; a name
that could mean two of these is refused unless written with its prefix
(``"landscape.start"``, ``"schedule.final"``, ``"optimizer.momentum"``). A hyperparameter of
one parameter group only is written ``"hyperparameter@group"`` (``"learning_rate@input"``),
with the groups of the landscape's ``group_names()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .landscapes import Landscape
from .optimizers import Optimizer
from .schedules import Schedule

TARGETS = ("optimizer", "landscape", "schedule", "noise", "seed")


def logspace(start: float, stop: float, num: int) -> np.ndarray:
    """``num`` values from ``start`` to ``stop`` (both > 0), evenly spaced on a log scale."""
    _check_count(num)
    for name, value in (("start", start), ("stop", stop)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"logspace: `{name}` must be finite and > 0, got {value!r}")
    return np.geomspace(float(start), float(stop), int(num))


def linspace(start: float, stop: float, num: int) -> np.ndarray:
    """``num`` evenly spaced values from ``start`` to ``stop`` inclusive."""
    _check_count(num)
    for name, value in (("start", start), ("stop", stop)):
        if not np.isfinite(value):
            raise ValueError(f"linspace: `{name}` must be finite, got {value!r}")
    return np.linspace(float(start), float(stop), int(num))


def _check_count(num: Any) -> None:
    if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 1:
        raise ValueError(f"the number of points must be an integer >= 1, got {num!r}")


def parse_axis(text: str) -> np.ndarray:
    """Parse an axis written on the command line.

    ``"1e-4:1:512:log"`` is :func:`logspace`, ``"0:0.99:64"`` (or ``...:lin``) is
    :func:`linspace`, and ``"0.1,0.5,0.9"`` lists values.
    """
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("log", "lin")):
            raise ValueError(
                f"axis {text!r}: expected START:STOP:NUM[:log|lin], e.g. 1e-4:1:512:log"
            )
        try:
            start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
        except ValueError:
            raise ValueError(
                f"axis {text!r}: START and STOP must be numbers and NUM an integer"
            ) from None
        maker = logspace if len(parts) == 4 and parts[3] == "log" else linspace
        return maker(start, stop, num)
    try:
        return np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise ValueError(f"axis {text!r}: expected comma-separated numbers") from None


def is_log_spaced(values: np.ndarray) -> bool:
    """True for three or more positive values with a constant ratio (as :func:`logspace` makes)."""
    v = np.asarray(values, dtype=float)
    if v.size < 3 or np.any(v <= 0):
        return False
    ratios = np.diff(np.log(v))
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6, atol=1e-12) and ratios[0] != 0
                and not np.allclose(np.diff(v), np.diff(v)[0], rtol=1e-6))


class Axis(NamedTuple):
    name: str  # the key as the user wrote it: the Dataset's dimension name
    target: str  # one of TARGETS
    field: str  # the hyperparameter or field name, without prefix
    values: np.ndarray


def resolve(
    grid: Mapping[str, Iterable[float]] | None,
    landscape: Landscape,
    optimizer: Optimizer,
    schedule: Schedule | None,
) -> tuple[Axis, ...]:
    """Check every axis and decide what it sweeps; raise ``ValueError`` naming what is wrong."""
    if grid is None:
        return ()
    if not isinstance(grid, Mapping):
        raise ValueError(f"`grid` must be a mapping of axis name to values, got {grid!r}")
    owners = {
        "optimizer": set(optimizer.hyperparams),
        "landscape": set(type(landscape).sweepable_fields()),
        "schedule": set(type(schedule).sweepable_fields()) if schedule is not None else set(),
        "noise": {"gradient_noise"},
    }
    axes = []
    for name, raw in grid.items():
        target, field = _target_of(name, owners, landscape, schedule)
        values = _values(name, raw, integer=target == "seed")
        if target == "landscape":
            _check_fields(name, values, lambda v, f=field: landscape.replace(**{f: v}))
        elif target == "schedule":
            _check_fields(name, values, lambda v, f=field: schedule.replace(**{f: v}))
        elif target == "optimizer":
            hyperparameter = field.partition("@")[0]
            _check_fields(name, values, lambda v, f=hyperparameter: optimizer.check(f, v))
        elif target == "noise" and np.any(values < 0):
            raise ValueError(f"grid axis {name!r}: the noise's standard deviation must be "
                             f">= 0, got {float(values[values < 0][0])!r}")
        axes.append(Axis(name, target, field, values))
    targets = [(a.target, a.field) for a in axes]
    if len(set(targets)) != len(targets):
        dup = [a.name for a in axes if targets.count((a.target, a.field)) > 1]
        raise ValueError(f"grid axes {dup} sweep the same thing twice")
    return tuple(axes)


def check_ordered(axes: tuple[Axis, ...]) -> None:
    """Refuse a grid axis whose values are not strictly increasing or strictly decreasing: a
    value held twice could not be told apart by its coordinate, and the nearest-value lookups
    of ``ds.sel(..., method="nearest")`` and the figures need an ordered axis."""
    for axis in axes:
        steps = np.diff(axis.values)
        if np.all(steps > 0) or np.all(steps < 0):
            continue
        values, counts = np.unique(axis.values, return_counts=True)
        if np.any(counts > 1):
            twice = values[counts > 1][0]
            raise ValueError(f"grid axis {axis.name!r} holds {twice:g} {counts.max()} times: "
                             "give each value once (repeat runs along a `seed` axis)")
        raise ValueError(f"grid axis {axis.name!r} is not in order: give its values increasing "
                         f"or decreasing (sorted: {values.tolist()})")


def _target_of(
    name: Any, owners: dict[str, set[str]], landscape: Landscape, schedule: Schedule | None
) -> tuple[str, str]:
    if not isinstance(name, str):
        raise ValueError(f"grid key {name!r} must be a string")
    if name == "seed":
        return "seed", "seed"
    if "@" in name:
        return "optimizer", _group_axis(name, owners["optimizer"], landscape)
    prefix, dot, rest = name.partition(".")
    if dot and prefix in owners:
        if rest in owners[prefix]:
            return prefix, rest
        raise ValueError(f"grid key {name!r}: {prefix} has no sweepable {rest!r}; "
                         f"it has: {', '.join(sorted(owners[prefix])) or 'none'}")
    matches = [target for target, names in owners.items() if name in names]
    if len(matches) > 1:
        raise ValueError(
            f"grid key {name!r} names both the {matches[0]}'s and the {matches[1]}'s field; "
            f"write {matches[0]}.{name!r} or {matches[1]}.{name!r}"
        )
    if matches:
        return matches[0], name
    for obj, what in ((landscape, "landscape"), (schedule, "schedule")):
        if obj is not None and name in {f for f in obj.config()}:
            raise ValueError(
                f"grid key {name!r}: the {what} field {type(obj).__name__}.{name} cannot be "
                "a grid axis (it fixes shapes or is an array); run one sweep per value"
            )
    known = sorted(set().union(*owners.values()) | {"seed"})
    raise ValueError(f"unknown grid key {name!r}; sweepable here: {', '.join(known)}")


def _group_axis(name: str, hyperparams: set[str], landscape: Landscape) -> str:
    """Check a per-group axis ``"hyperparameter@group"``; return it without a prefix."""
    field, _, group = name.removeprefix("optimizer.").partition("@")
    if field not in hyperparams:
        raise ValueError(f"grid key {name!r}: the optimizer has no hyperparameter {field!r}; "
                         f"it has: {', '.join(sorted(hyperparams))}")
    groups = landscape.group_names()
    if not groups:
        raise ValueError(f"grid key {name!r}: {type(landscape).__name__} has one parameter "
                         "group, so per-group hyperparameters do not apply")
    if group not in groups:
        raise ValueError(f"grid key {name!r}: {type(landscape).__name__} has no parameter "
                         f"group {group!r}; its groups are: {', '.join(groups)}")
    return f"{field}@{group}"


def covered(axes: tuple[Axis, ...], landscape: Landscape) -> set[str]:
    """Optimizer hyperparameters that every parameter group gets from the grid: those swept
    globally, and those swept separately for each group."""
    fields = {a.field for a in axes if a.target == "optimizer"}
    done = {f for f in fields if "@" not in f}
    groups = landscape.group_names()
    for field in {f.partition("@")[0] for f in fields if "@" in f}:
        if all(f"{field}@{g}" in fields for g in groups):
            done.add(field)
    return done


def _values(name: str, raw: Any, *, integer: bool) -> np.ndarray:
    if isinstance(raw, Iterator) or (isinstance(raw, Iterable) and not isinstance(
            raw, str | bytes | Mapping | np.ndarray) and not hasattr(raw, "__len__")):
        raw = list(raw)  # a generator, or any other iterable: read once
    if isinstance(raw, bool | np.bool_) or (isinstance(raw, np.ndarray) and raw.dtype == bool) or (
            isinstance(raw, list | tuple) and any(isinstance(v, bool | np.bool_) for v in raw)):
        raise ValueError(f"grid axis {name!r}: values must be numbers, got {raw!r}")
    try:
        values = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"grid axis {name!r}: values must be numbers, got {raw!r}") from None
    if values.ndim == 0:
        values = values.reshape(1)
    if values.ndim != 1:
        raise ValueError(f"grid axis {name!r}: values must be 1-D, got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"grid axis {name!r} is empty")
    if not np.all(np.isfinite(values)):
        bad = values[~np.isfinite(values)][0]
        raise ValueError(f"grid axis {name!r} has a non-finite value: {float(bad)!r}")
    if integer:
        if np.any(values != np.round(values)) or np.any(values < 0) or np.any(values >= 2**32):
            raise ValueError(f"grid axis {name!r}: seeds must be integers in [0, 2**32), "
                             f"got {raw!r}")
        return values.astype(np.int64)
    return values


def _check_fields(name: str, values: np.ndarray, build: Any) -> None:
    for value in np.unique(values):
        try:
            build(float(value))
        except ValueError as err:
            raise ValueError(f"grid axis {name!r}: {err}") from None


def size(axes: tuple[Axis, ...]) -> int:
    return math.prod(len(a.values) for a in axes)


def to_grid(
    flat: Mapping[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]],
    grid_dims: tuple[str, ...], shape: tuple[int, ...],
) -> dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, Any]]]:
    """Variables over a flat batch of trajectories (C order: the last axis varies fastest),
    ``name -> (own dims, values (total, ...), attrs)``, as variables over the grid: the
    grid's dims, then their own."""
    return {name: (tuple(grid_dims) + tuple(dims), values.reshape(shape + values.shape[1:]),
                   attrs)
            for name, (dims, values, attrs) in flat.items()}
