"""The paths a picture draws: which Dataset holds them, each path with its regime and letter,
how many updates to show, and the box they are shown in."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import xarray as xr

from ..regimes import Regime
from ..rerun import grid_targets, rerun
from ._curves import _trajectories
from ._style import REGIME_COLORS

#: Letters that name the trajectories drawn, on every panel of a figure.
LETTERS = string.ascii_uppercase
#: The automatic window (:func:`window`) ends at the paths' last turn larger than this share
#: of their largest step along that coordinate, times :data:`WINDOW_MARGIN`.
SETTLED_SHARE = 0.01
WINDOW_MARGIN = 1.5
#: The view's margin around the paths, as a share of their extent on each side.
VIEW_MARGIN = 0.08
#: A diverged path stays in view while it is within this many times the other paths' box.
DIVERGED_ROOM = 3.0


class Path(NamedTuple):
    """One trajectory's path as drawn."""

    coords: np.ndarray  # (samples, rank): plane coordinates, NaN once diverged
    steps: np.ndarray  # (samples,): updates done at each sample
    distance: np.ndarray  # (samples,): distance from the plane
    regime: Regime
    label: str
    letter: str
    divergence_step: int  # -1: never
    point: dict[str, float]  # the trajectory's grid-axis values

    @property
    def color(self) -> str:
        return REGIME_COLORS[self.regime]

    @property
    def diverged(self) -> bool:
        return self.divergence_step >= 0


def traced(ds: xr.Dataset, points: Sequence[Mapping[str, Any]] | None) -> xr.Dataset:
    """A Dataset holding the paths of ``points``: ``ds`` itself where it has them (a sweep
    that recorded them, or a Dataset of points), else the points run again with every update
    recorded (:func:`lrscape.rerun`)."""
    if "path" in ds:
        return ds
    if points is None:
        raise ValueError("the Dataset holds no paths (`path`): give the `points` to run again "
                         "with their paths recorded, or sweep with Observe(path_every=1)")
    return rerun(ds, points)


def collect(ds: xr.Dataset, points: Sequence[Mapping[str, Any]] | None = None,
            labels: Sequence[str] | None = None, letters: Sequence[str] | None = None
            ) -> list[Path]:
    """The paths of ``points`` of ``ds`` (nearest grid points), or of every point of a
    Dataset of points (``points=None``), each with its regime, label and letter."""
    axes = list(grid_targets(ds))
    out = []
    for i, (sel, regime, label) in enumerate(_trajectories(ds, points, labels)):
        point = {name: float(sel[name]) for name in axes if name in sel.coords}
        letter = letters[i] if letters is not None else LETTERS[i % len(LETTERS)]
        out.append(Path(np.atleast_2d(sel["path"].values.T).T, sel["path_step"].values,
                        sel["path_distance"].values, regime, label, letter,
                        int(sel["divergence_step"]) if regime == Regime.DIVERGED else -1,
                        point))
    return out


def window(drawn: Sequence[Path], total: int) -> int:
    """The last update worth drawing: the last turn of the paths that did not diverge, with a
    margin (:data:`WINDOW_MARGIN`).

    A turn is a coordinate whose step changes sign, both steps larger than
    :data:`SETTLED_SHARE` of that coordinate's largest: a bounce across a valley turns every
    update, a ring every half swing, while a slide down the floor never does. Past the last
    turn the paths only drift, so the picture stops there and gives the bounces its width.
    The whole run where that is more than half of it, or where no path turns; where every
    path diverged, up to the last divergence.
    """
    turns, alive = [], [p for p in drawn if not p.diverged]
    for path in alive:
        moves = np.diff(path.coords, axis=0)
        moves = np.where(np.isfinite(moves), moves, 0.0)
        large = np.abs(moves) > SETTLED_SHARE * np.abs(moves).max(axis=0, initial=0.0)
        turned = (np.sign(moves[1:]) * np.sign(moves[:-1]) < 0) & large[1:] & large[:-1]
        at = np.flatnonzero(turned.any(axis=1))
        if at.size:
            turns.append(path.steps[at[-1] + 2])
    if not alive:
        return int(min(total, max(p.divergence_step for p in drawn) + 1))
    if not turns:
        return total
    end = int(np.ceil(WINDOW_MARGIN * max(turns)))
    return total if end > total / 2 else max(end, min(total, 10))


def resolve_until(until: int | str | None, drawn: Sequence[Path], total: int) -> int:
    """The last update a picture draws, from its ``until`` argument."""
    if until == "auto":
        return window(drawn, total)
    if until is None:
        return total
    if isinstance(until, bool) or not isinstance(until, int | np.integer) or until < 0:
        raise ValueError(f"`until` must be 'auto', None or an update >= 0, got {until!r}")
    return int(until)


def view(drawn: Sequence[Path], until: int) -> np.ndarray:
    """The box shown, ``(rank, 2)``: around every sample up to ``until`` of the paths that
    did not diverge, else around the first samples of each, with a margin
    (:data:`VIEW_MARGIN`). A diverged path's first swings are kept in view too, for as long as
    they stay within :data:`DIVERGED_ROOM` times that box, so that its growth can be seen
    before it leaves."""
    kept = [p.coords[p.steps <= until] for p in drawn if not p.diverged]
    if not kept:
        return _box(np.concatenate([p.coords[:3] for p in drawn]))
    box = _box(np.concatenate(kept))
    middle, half = box.mean(axis=1), DIVERGED_ROOM * (box[:, 1] - box[:, 0]) / 2
    for path in (p for p in drawn if p.diverged):
        coords = path.coords[path.steps <= until]
        inside = np.all(np.abs(coords - middle) <= half, axis=1)  # NaN: outside
        kept.append(coords[: int(np.argmin(inside)) if not inside.all() else len(coords)])
    return _box(np.concatenate(kept))


def _box(points: np.ndarray) -> np.ndarray:
    """The box around the finite ``points``, with a margin (:data:`VIEW_MARGIN`)."""
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0), points.max(axis=0)
    span = high - low
    scale = max(float(span.max()), float(np.abs(points).max()) * 1e-3, 1e-12)
    span = np.where(span > 1e-3 * scale, span, 0.1 * scale)
    middle = (low + high) / 2
    half = (0.5 + VIEW_MARGIN) * span
    return np.stack([middle - half, middle + half], axis=1)


def exit_point(inside: np.ndarray, outside: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Where the segment from ``inside`` to ``outside`` crosses the border of ``box``."""
    direction = outside - inside
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.where(direction > 0, box[:, 1], box[:, 0])
        t = np.where(direction != 0, (bounds - inside) / direction, np.inf)
    share = float(np.clip(np.nanmin(t), 0.0, 1.0))
    return inside + share * direction
