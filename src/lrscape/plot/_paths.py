"""Paths: where chosen trajectories went, over the loss contours of the sweep's path plane.

:func:`paths` draws them, :func:`animate_paths` moves them step by step. The positions come
from the Dataset where the sweep recorded them (``Observe(path_every=...)``), else from
running the points again with every update recorded (:func:`lrscape.rerun`). The contours
are the loss of the sweep's landscape on the plane (:func:`lrscape.paths.loss_surface`),
rebuilt from the Dataset's attributes; a landscape that this process cannot rebuild (a class
not registered here) leaves the paths on a blank plane, and the title says so.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.lines import Line2D

from .. import paths as paths_mod
from ..landscapes._base import REGISTRY
from ..regimes import Regime
from ..rerun import landscape_at, rerun, stored_plane
from ._curves import _trajectories
from ._style import REGIME_COLORS

#: Letters that name the trajectories drawn, on every panel of a figure.
LETTERS = string.ascii_uppercase
#: Contour fills: light greys, lower loss lighter, so the regimes' colours stand out on them.
CONTOUR_CMAP = ListedColormap(plt.get_cmap("Greys")(np.linspace(0.03, 0.42, 256)))
#: Contour levels drawn (log-spaced).
CONTOUR_LEVELS = 14
#: Lattice points per side on which the contours' loss is evaluated.
CONTOUR_POINTS = 160
#: The automatic window (:func:`window`) ends at the paths' last turn larger than this share
#: of their largest step along that coordinate, times :data:`WINDOW_MARGIN`.
SETTLED_SHARE = 0.01
WINDOW_MARGIN = 1.5
#: Arrowheads along each path, showing which way it went.
ARROWS = 3


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
    out = []
    for i, (sel, regime, label) in enumerate(_trajectories(ds, points, labels)):
        point = {name: float(sel[name]) for name in _point_axes(ds) if name in sel.coords}
        letter = letters[i] if letters is not None else LETTERS[i % len(LETTERS)]
        out.append(Path(np.atleast_2d(sel["path"].values.T).T, sel["path_step"].values,
                        sel["path_distance"].values, regime, label, letter,
                        int(sel["divergence_step"]) if regime == Regime.DIVERGED else -1,
                        point))
    return out


def _point_axes(ds: xr.Dataset) -> list[str]:
    return [name for name, _ in json.loads(ds.attrs.get("grid_axes", "[]"))]


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
    turns, alive = [], [p for p in drawn if p.divergence_step < 0]
    for path in alive:
        moves = np.diff(path.coords, axis=0)
        moves = np.where(np.isfinite(moves), moves, 0.0)
        large = np.abs(moves) > SETTLED_SHARE * np.abs(moves).max(axis=0, initial=0.0)
        turned = (np.sign(moves[1:]) * np.sign(moves[:-1]) < 0) & large[1:] & large[:-1]
        at = np.flatnonzero(turned.any(axis=1))
        if at.size:
            turns.append(path.steps[at[-1] + 2])
    if not alive:
        diverged = [p.divergence_step for p in drawn]
        return int(min(total, max(diverged) + 1))
    if not turns:
        return total
    end = int(np.ceil(WINDOW_MARGIN * max(turns)))
    return total if end > total / 2 else max(end, min(total, 10))


def _view(drawn: Sequence[Path], until: int) -> np.ndarray:
    """The box shown, ``(rank, 2)``: around every sample up to ``until`` of the paths that
    did not diverge, else around the first samples of each, with a margin."""
    kept = [p.coords[p.steps <= until] for p in drawn if p.divergence_step < 0]
    if not kept:
        kept = [p.coords[:3] for p in drawn]
    points = np.concatenate(kept)
    points = points[np.all(np.isfinite(points), axis=1)]
    low, high = points.min(axis=0), points.max(axis=0)
    span = high - low
    scale = max(float(span.max()), float(np.abs(points).max()) * 1e-3, 1e-12)
    span = np.where(span > 1e-3 * scale, span, 0.1 * scale)
    middle = (low + high) / 2
    return np.stack([middle - 0.58 * span, middle + 0.58 * span], axis=1)


def _axis_names(ds: xr.Dataset, plane: paths_mod.Plane) -> list[str]:
    """The plane's axes in words: ``x[0] (along the floor)``, ``e1: top Hessian eigenvector
    at the start, from the start``."""
    cls = REGISTRY.lookup(ds.attrs.get("landscape"))
    words = getattr(cls, "view_words", ()) if plane.kind in ("coordinates", "landscape") else ()
    names = []
    for i, name in enumerate(plane.axis_names()):
        if plane.kind == "hessian":
            rank = ("top", "second")[i]
            names.append(f"{name}: {rank} Hessian eigenvector at the start, from the start")
        elif i < len(words):
            where = "" if plane.kind == "coordinates" else ", from the start"
            names.append(f"{name} ({words[i]}{where})")
        else:
            names.append(name if plane.kind == "coordinates" else f"{name}, from the start")
    return names


class PathsPicture:
    """The plane, its contours and the paths' artists on one ``Axes``, drawn up to any update
    (:meth:`show_until`), for :func:`paths` and each frame of :func:`animate_paths`."""

    def __init__(self, ax: Any, ds: xr.Dataset, drawn: Sequence[Path], until: int):
        self.ax, self.ds, self.drawn, self.until = ax, ds, list(drawn), until
        self.plane = stored_plane(ds)
        if self.plane is None:
            raise ValueError("the Dataset has no path plane (`path_basis`): it recorded no "
                             "paths")
        self.view = _view(self.drawn, until)
        self.landscape = landscape_at(ds, self.drawn[0].point)
        self.notes: list[str] = []
        if self.landscape is None:
            self.notes.append(f"no contours: landscape {ds.attrs.get('landscape')!r} is not "
                              "registered in this process")
        elif len({str(landscape_at(ds, p.point)) for p in self.drawn}) > 1:
            self.notes.append(f"contours: the landscape of {self.drawn[0].letter} (the paths' "
                              "landscapes differ)")
        # a diverged path, which leaves the view, beneath the others and dashed; a long one
        # (a chaotic orbit) thin, so that its density shows
        dense = [np.sum(p.steps <= until) > 300 for p in self.drawn]
        self.lines = [ax.plot([], [], "--" if p.divergence_step >= 0 else "-", color=p.color,
                              lw=0.5 if many else 1.3, alpha=0.55 if many else 1.0,
                              zorder=2.5 if p.divergence_step >= 0 else 3,
                              gid=f"path {p.letter}")[0]
                      for p, many in zip(self.drawn, dense, strict=True)]
        self.dots = [ax.plot([], [], ".", color=p.color, ms=3.5, zorder=3)[0]
                     for p in self.drawn]
        self.heads = [ax.plot([], [], "o", color=p.color, mec="black", mew=0.6, ms=6,
                              zorder=5)[0] for p in self.drawn]

    # -- the plane ------------------------------------------------------------------------

    def draw_plane(self) -> None:
        """Contours (or, on a line, the loss curve), the minimum, the axes' labels."""
        ax, view = self.ax, self.view
        names = _axis_names(self.ds, self.plane)
        if self.plane.rank == 1:
            self._loss_line()
            ax.set_xlabel(names[0])
            ax.set_ylabel("loss")
        else:
            if self.landscape is not None:
                self._contours()
            ax.set_xlabel(names[0])
            ax.set_ylabel(names[1])
            ax.set_ylim(view[1])
            self._minimum()
        ax.set_xlim(view[0])

    def _contours(self) -> None:
        axes = [np.linspace(lo, hi, CONTOUR_POINTS) for lo, hi in self.view]
        loss = paths_mod.loss_surface(self.landscape, self.plane, axes)
        levels, shifted, offset = _log_levels(loss)
        fill = self.ax.contourf(*axes, shifted, levels=levels, norm=LogNorm(), cmap=CONTOUR_CMAP,
                                extend="both", zorder=0)
        self.ax.contour(*axes, shifted, levels=levels, norm=LogNorm(), colors="0.45",
                        linewidths=0.5, zorder=1)
        what = "loss" if offset == 0 else f"loss − {offset:.4g}"
        # an inset beside the panel, not a colorbar the layout makes room for: in a column
        # whose margin another panel's legend widens, that one would stand at its far side
        bar = plt.colorbar(fill, cax=self.ax.inset_axes([1.015, 0.0, 0.025, 1.0]))
        bar.set_label(f"{what} (log-spaced contours)", fontsize=8)
        bar.set_ticks(levels[::3], labels=[f"{v:.3g}" for v in levels[::3]], fontsize=7)
        bar.ax.minorticks_off()

    def _loss_line(self) -> None:
        if self.landscape is None:
            return
        xs = np.linspace(*self.view[0], 400)
        loss = self._line_loss(xs)
        self.ax.plot(xs, loss, color="0.35", lw=1.2, zorder=1, label="loss along the line")
        top, positive = float(np.nanmax(loss)), loss[loss > 0]
        if positive.size == loss.size and top > 30 * positive.min():
            self.ax.set_yscale("log")
            self.ax.set_ylim(max(positive.min(), top * 1e-9) / 3, top * 3)
        else:
            low = float(np.nanmin(loss))
            self.ax.set_ylim(low - 0.08 * (top - low), top + 0.08 * (top - low))

    def _line_loss(self, xs: np.ndarray) -> np.ndarray:
        return paths_mod.loss_surface(self.landscape, self.plane, [np.asarray(xs, float)])

    def _minimum(self) -> None:
        """The landscape's minimum: a star where it lies in view, else an arrow at the edge
        pointing to it, with its distance from the plane where it lies off it."""
        where = None if self.landscape is None else self.landscape.minimizer()
        if where is None:
            return
        flat = np.concatenate([np.ravel(np.asarray(x, np.float64))
                               for x in _leaves(where)])
        (coords,), (off,) = self.plane.coordinates(flat[None])
        size = float(np.max(self.view[:, 1] - self.view[:, 0]))
        text = "minimum" + (f" ({off:.2g} off the plane)" if off > 1e-6 * max(size, 1) else "")
        inside = np.all((coords >= self.view[:, 0]) & (coords <= self.view[:, 1]))
        if inside:
            self.ax.plot(*coords, "*", color="black", mec="white", ms=13, zorder=6)
            self.ax.annotate(text, coords, xytext=(7, -10), textcoords="offset points",
                             fontsize=8)
            return
        shown = ", ".join(f"{c:.3g}" for c in coords)
        edge, direction = _toward(self.view, coords)
        self.ax.annotate(f"{text} at ({shown})", xy=edge, xytext=edge - 0.12 * direction,
                         textcoords="data", fontsize=8, ha="center", va="center",
                         arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.0},
                         bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6"},
                         zorder=7)

    # -- the paths ------------------------------------------------------------------------

    def positions(self, path: Path) -> np.ndarray:
        """Where ``path``'s samples are drawn: their plane coordinates, and on a line their
        loss as the second."""
        if self.plane.rank == 2:
            return path.coords
        xs = path.coords[:, 0]
        loss = np.full(xs.shape, np.nan)
        finite = np.isfinite(xs)
        if self.landscape is not None and finite.any():
            loss[finite] = self._line_loss(xs[finite])
        return np.stack([xs, loss], axis=1)

    def visible(self, path: Path, step: int) -> np.ndarray:
        """The positions of ``path`` drawn up to ``step``: its samples until then, but for a
        diverged path none after the first outside the view (it only flies further off)."""
        xy = self.positions(path)[path.steps <= step]
        if path.divergence_step >= 0:
            outside = np.flatnonzero(~self._inside(xy) & np.all(np.isfinite(xy), axis=1))
            if outside.size:
                xy = xy[: outside[0] + 1]
        return xy

    def show_until(self, step: int) -> None:
        """Every path drawn from its start to its last sample at or before ``step``."""
        for path, line, dots, head in zip(self.drawn, self.lines, self.dots, self.heads,
                                          strict=True):
            xy = self.visible(path, step)
            line.set_data(xy[:, 0], xy[:, 1])
            shown = xy if len(xy) <= 400 else xy[:0]  # dots only where they can be told apart
            dots.set_data(shown[:, 0], shown[:, 1])
            last = xy[np.all(np.isfinite(xy), axis=1)][-1:]
            head.set_data(last[:, 0], last[:, 1])

    def finish(self) -> None:
        """The static picture's marks: each start, its end or where it leaves the view, its
        letter, and arrowheads along it."""
        for path, head in zip(self.drawn, self.heads, strict=True):
            head.set_data([], [])
            xy = self.visible(path, self.until)
            finite = xy[np.all(np.isfinite(xy), axis=1)]
            if not len(finite):
                continue
            self.ax.plot(*finite[0], "o", mfc="white", mec=path.color, mew=1.8, ms=8, zorder=5)
            self._arrows(path, finite)
            self._end(path, finite)

    def _arrows(self, path: Path, xy: np.ndarray) -> None:
        inside = self._inside(xy)
        scale = self.view[:, 1] - self.view[:, 0]
        steps = np.linalg.norm(np.diff(xy, axis=0) / scale[: xy.shape[1]], axis=1)
        if not steps.size or steps.sum() <= 0:
            return
        along = np.cumsum(steps) / steps.sum()
        for share in np.linspace(0, 1, ARROWS + 2)[1:-1]:
            i = int(np.searchsorted(along, share))
            if i < len(steps) and inside[i] and inside[i + 1] and steps[i] > 0.01:
                self.ax.annotate("", xy=xy[i + 1], xytext=xy[i], zorder=4, arrowprops={
                    "arrowstyle": "-|>", "color": path.color, "lw": 1.3,
                    "mutation_scale": 12, "shrinkA": 0, "shrinkB": 0})

    def _inside(self, xy: np.ndarray) -> np.ndarray:
        """Which positions lie in the view (on a line: along it, and below the loss shown)."""
        if self.plane.rank == 1:
            top = self.ax.get_ylim()[1]
            return (xy[:, 0] >= self.view[0, 0]) & (xy[:, 0] <= self.view[0, 1]) & ~(
                xy[:, 1] > top)
        return np.all((xy >= self.view[:, 0]) & (xy <= self.view[:, 1]), axis=1)

    def _end(self, path: Path, xy: np.ndarray) -> None:
        """The path's last mark: where it leaves the view (diverged), its end, or where the
        picture stops it; with its letter."""
        inside = self._inside(xy)
        label = {"fontsize": 9, "fontweight": "bold", "zorder": 8,
                 "bbox": {"boxstyle": "circle,pad=0.15", "fc": "white", "ec": path.color}}
        if not inside.all():
            out = int(np.argmin(inside))
            if self.plane.rank == 2:
                where = _exit(xy[out - 1], xy[out], self.view) if out else xy[0]
            else:  # on a line, it leaves along the loss: marked where it was last shown
                where = xy[max(out - 1, 0)]
            self.ax.plot(*where, "^", color=path.color, mec="black", ms=9, zorder=6,
                         clip_on=False)
            self.ax.annotate(path.letter, where, xytext=(6, 6), textcoords="offset points",
                             annotation_clip=False, **label)
            return
        ended = path.steps[np.all(np.isfinite(path.coords), axis=1)][-1] <= self.until
        marker = "X" if path.divergence_step >= 0 else "s"
        if ended:
            self.ax.plot(*xy[-1], marker, color=path.color, mec="black", ms=7, zorder=6)
        self.ax.annotate(path.letter, xy[-1], xytext=(6, 6), textcoords="offset points",
                         **label)

    def title(self, total: int) -> str:
        shown = (f"all {total} updates" if self.until >= total
                 else f"updates 0 to {self.until} of {total}")
        every = int(self.drawn[0].steps[1] - self.drawn[0].steps[0]) if len(
            self.drawn[0].steps) > 1 else 1
        sampled = "" if every == 1 else f", a point every {every} updates"
        lines = [f"paths over the loss: {shown}{sampled}",
                 f"plane: {paths_mod.KINDS[self.plane.kind]}"]
        off = max(float(np.nanmax(p.distance[p.steps <= self.until], initial=0.0))
                  for p in self.drawn)
        size = float(np.max(self.view[:, 1] - self.view[:, 0]))
        if off > 1e-3 * size:
            lines[-1] += f"; the paths leave it by up to {off:.2g}"
        return "\n".join(lines + self.notes)

    def legend(self, with_paths: bool, with_marks: bool = True) -> None:
        """The paths' labels (``with_paths``) and what the marks mean (``with_marks``)."""
        handles = [Line2D([], [], color=p.color, lw=1.5, label=f"{p.letter}: {p.label}")
                   for p in self.drawn] if with_paths else []
        if not with_marks:
            self.ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85)
            return
        handles += [
            Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", mew=1.5, label="start"),
            Line2D([], [], ls="", marker="s", color="0.3", label="end"),
        ]
        if any(p.divergence_step >= 0 for p in self.drawn):
            handles.append(Line2D([], [], ls="", marker="^", color="0.3",
                                  label="diverged: leaves the view"))
        self.ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85)


def _leaves(tree: Any) -> list[Any]:
    import jax

    return jax.tree.leaves(tree)


def _log_levels(loss: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Log-spaced contour levels over ``loss``; where it reaches 0 or below, over the loss
    less an offset just below its minimum (returned, with the shifted loss)."""
    finite = loss[np.isfinite(loss)]
    low, high = float(finite.min()), float(finite.max())
    offset = 0.0
    if low <= 0 or high / low < 3:
        offset = low - max(high - low, 1e-30) * 1e-3
    shifted = loss - offset
    low, high = float(np.nanmin(shifted)), float(np.nanmax(shifted))
    return np.geomspace(low, high, CONTOUR_LEVELS), shifted, offset


def _exit(inside: np.ndarray, outside: np.ndarray, view: np.ndarray) -> np.ndarray:
    """Where the segment from ``inside`` to ``outside`` crosses the view's border."""
    direction = outside - inside
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.where(direction > 0, view[:, 1], view[:, 0])
        t = np.where(direction != 0, (bounds - inside) / direction, np.inf)
    share = float(np.clip(np.nanmin(t), 0.0, 1.0))
    return inside + share * direction


def _toward(view: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A point just inside the view's border towards ``target`` from its centre, and the unit
    direction (in view units) it points in."""
    centre = view.mean(axis=1)
    half = (view[:, 1] - view[:, 0]) / 2
    direction = (target - centre) / half
    direction = direction / np.abs(direction).max()
    return centre + 0.92 * direction * half, direction * half


def paths(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None = None,
    ax: Any = None,
    *,
    until: int | str | None = "auto",
    labels: Sequence[str] | None = None,
    letters: Sequence[str] | None = None,
    legend: bool | str = True,
) -> Any:
    """The paths of chosen trajectories over the loss contours of the sweep's path plane.

    Each path is drawn in its regime's colour, a dot per recorded position, from a hollow
    circle at its start to a square at its end (a cross where it diverged; a triangle where it
    leaves the view), with arrowheads along it and its letter at its last point. The contours
    are log-spaced levels of the loss on the plane; the landscape's minimum is a star, or an
    arrow at the border pointing to it. On a one-dimensional landscape the plane is a line:
    the loss along it, and each path drawn on it.

    Args:
        ds: a sweep's Dataset. Where it recorded no paths, ``points`` run again with every
            update recorded (:func:`lrscape.rerun`); a Dataset of points with paths (what
            :func:`lrscape.rerun` returns) draws every point.
        points: one mapping of grid-axis values per path, e.g. ``[{"learning_rate": 0.02,
            "momentum": 0.8}]`` (nearest grid points of a Dataset with paths).
        until: the last update drawn: ``"auto"`` (where the paths' fast motion has died, see
            :func:`window`; the whole run where they keep moving), an update, or ``None``
            (the whole run).
        labels, letters: each path's label (default: its grid values) and letter (A, B, ...).
        legend: ``True``, ``False``, or ``"markers"`` (what the marks mean, without the
            paths' labels: a figure whose other panel names them).

    Returns:
        The matplotlib ``Axes``.
    """
    source = traced(ds, points)
    drawn = collect(source, points if source is ds else None, labels, letters)
    total = int(source.attrs.get("steps", drawn[0].steps[-1]))
    end = window(drawn, total) if until == "auto" else total if until is None else int(until)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5.5), constrained_layout=True)
    picture = PathsPicture(ax, source, drawn, end)
    picture.draw_plane()
    picture.show_until(end)
    picture.finish()
    ax.set_title(picture.title(total), fontsize=9)
    if legend:
        picture.legend(with_paths=legend is True)
    return ax


def animate_paths(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None,
    path: str,
    *,
    frames: int = 60,
    fps: float = 15.0,
    until: int | str | None = "auto",
    labels: Sequence[str] | None = None,
) -> str:
    """The paths of :func:`paths` moving step by step, written to ``path`` (``.gif`` with
    Pillow, ``.mp4`` with ffmpeg), ``frames`` frames evenly spread over the updates drawn.
    Returns ``path``."""
    from matplotlib import animation

    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"`frames` must be an integer >= 1, got {frames!r}")
    suffix = str(path).rsplit(".", 1)[-1].lower()
    if suffix == "gif":
        writer: Any = animation.PillowWriter(fps=fps)
    elif suffix == "mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise ValueError(f"`path` {path!r}: an .mp4 needs ffmpeg, which is not installed; "
                             "write a .gif")
        writer = animation.FFMpegWriter(fps=fps)
    else:
        raise ValueError(f"`path` must end in .gif or .mp4, got {path!r}")
    source = traced(ds, points)
    drawn = collect(source, points if source is ds else None, labels)
    total = int(source.attrs.get("steps", drawn[0].steps[-1]))
    end = window(drawn, total) if until == "auto" else total if until is None else int(until)
    fig, ax = plt.subplots(figsize=(7, 5.5), constrained_layout=True)
    picture = PathsPicture(ax, source, drawn, end)
    picture.draw_plane()
    picture.legend(with_paths=True, with_marks=False)
    moments = np.linspace(0, end, frames).round().astype(int)

    def draw(k: int) -> list[Any]:
        picture.show_until(int(moments[k]))
        # the frame's number too: frames showing the same update stay frames of their own
        ax.set_title(f"update {moments[k]} of {total} (frame {k + 1} of {frames})", fontsize=9)
        return [*picture.lines, *picture.dots, *picture.heads]

    movie = animation.FuncAnimation(fig, draw, frames=frames, blit=False)
    movie.save(path, writer=writer)
    plt.close(fig)
    return path
