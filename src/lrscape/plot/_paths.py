"""Paths: where chosen trajectories went, over the loss contours of the sweep's path plane.

:func:`paths` draws them, :func:`animate_paths` moves them step by step. The positions come
from the Dataset where the sweep recorded them (``Observe(path_every=...)``), else from
running the points again with every update recorded (:func:`lrscape.rerun`). The contours
are the loss of the sweep's landscape on the plane (:func:`lrscape.paths.loss_surface`),
rebuilt from the Dataset's attributes; a landscape that this process cannot rebuild (a class
not registered here) leaves the paths on a blank plane, and the title says so.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.path import Path as MplPath
from matplotlib.transforms import Affine2D

from .. import paths as paths_mod
from ..landscapes._base import REGISTRY
from ..rerun import landscape_at, stored_plane
from ._path_data import Path, collect, exit_point, resolve_until, traced, view

#: Contour fills: light greys, lower loss lighter, so the regimes' colours stand out on them.
CONTOUR_CMAP = ListedColormap(plt.get_cmap("Greys")(np.linspace(0.03, 0.42, 256)))
#: Contour levels drawn (log-spaced).
CONTOUR_LEVELS = 14
#: Lattice points per side on which the contours' loss is evaluated.
CONTOUR_POINTS = 160
#: Arrowheads along each path, showing which way it went.
ARROWS = 3
#: A path of more samples than this is drawn thin and without a dot per sample (a chaotic
#: orbit: its density shows).
DENSE_SAMPLES = 300
#: Title lines are wrapped at this many characters.
TITLE_WIDTH = 78


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
        self.view = view(self.drawn, until)
        self.landscape = landscape_at(ds, self.drawn[0].point)
        self.notes: list[str] = []
        self.marks: list[Line2D] = []  # legend entries of the plane's own marks
        self.ended = False  # whether a path's end is drawn
        if self.landscape is None:
            self.notes.append(f"no contours: landscape {ds.attrs.get('landscape')!r} is not "
                              "registered in this process")
        elif len({str(landscape_at(ds, p.point)) for p in self.drawn}) > 1:
            self.notes.append(f"contours: the landscape of {self.drawn[0].letter} (the paths' "
                              "landscapes differ)")
        # a diverged path, which leaves the view, beneath the others and dashed; a dense one
        # (a chaotic orbit) thin, so that its density shows
        dense = [np.sum(p.steps <= until) > DENSE_SAMPLES for p in self.drawn]
        self.lines = [ax.plot([], [], "--" if p.diverged else "-", color=p.color,
                              lw=0.5 if many else 1.3, alpha=0.55 if many else 1.0,
                              zorder=2.5 if p.diverged else 3, gid=f"path {p.letter}")[0]
                      for p, many in zip(self.drawn, dense, strict=True)]
        self.dots = [ax.plot([], [], ".", color=p.color, ms=3.5, zorder=3)[0]
                     for p in self.drawn]
        self.heads = [ax.plot([], [], "o", color=p.color, mec="black", mew=0.6, ms=6,
                              zorder=5)[0] for p in self.drawn]

    # -- the plane ------------------------------------------------------------------------

    def draw_plane(self) -> None:
        """Contours (or, on a line, the loss curve), the minimum, the axes' labels."""
        ax = self.ax
        names = _axis_names(self.ds, self.plane)
        ax.set_xlim(self.view[0])
        ax.set_xlabel(names[0])
        if self.plane.rank == 1:
            self._loss_line()
            ax.set_ylabel("loss")
            return
        ax.set_ylim(self.view[1])
        ax.set_ylabel(names[1])
        if self.landscape is not None:
            self._contours()
            self._minimum()

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
        """On a line: the loss along it, on a linear scale (a run that converges reaches the
        bottom of the well, which a log scale could not show)."""
        if self.landscape is None:
            return
        xs = np.linspace(*self.view[0], 400)
        loss = self._line_loss(xs)
        self.ax.plot(xs, loss, color="0.35", lw=1.2, zorder=1)
        low, top = float(np.nanmin(loss)), float(np.nanmax(loss))
        pad = 0.06 * max(top - low, 1e-30)
        self.ax.set_ylim(low - pad, top + pad)

    def _line_loss(self, xs: np.ndarray) -> np.ndarray:
        return paths_mod.loss_surface(self.landscape, self.plane, [np.asarray(xs, float)])

    def _minimum(self) -> None:
        """The landscape's minimum, where it declares one: a star where it lies in view, else
        an arrow on the border pointing to it; the legend says where it is, and how far off
        the plane."""
        where = self.landscape.minimizer()
        if where is None:
            return
        flat = np.concatenate([np.ravel(np.asarray(x, np.float64))
                               for x in jax.tree.leaves(where)])
        (coords,), (off,) = self.plane.coordinates(flat[None])
        size = float(np.max(self.view[:, 1] - self.view[:, 0]))
        beside = f", {off:.2g} off the plane" if off > 1e-6 * max(size, 1.0) else ""
        shown = ", ".join(f"{c:.3g}" for c in coords)
        if np.all((coords >= self.view[:, 0]) & (coords <= self.view[:, 1])):
            style = {"marker": "*", "ms": 13}
            self.ax.plot(*coords, color="black", mec="white", zorder=2.8, **style)
            label = f"minimum ({shown}){beside}"
        else:
            edge, angle = _toward(self.ax, self.view, coords)
            style = {"marker": _arrow(angle), "ms": 14}
            self.ax.plot(*edge, color="black", mec="white", zorder=2.8, clip_on=False, **style)
            label = f"minimum at ({shown}){beside}: off the view, this way"
        self.marks.append(Line2D([], [], ls="", color="black", mec="white", label=label,
                                 **style))

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
        if path.diverged:
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
            shown = xy if len(xy) <= DENSE_SAMPLES else xy[:0]
            dots.set_data(shown[:, 0], shown[:, 1])
            last = xy[np.all(np.isfinite(xy), axis=1)][-1:]
            head.set_data(last[:, 0], last[:, 1])

    def finish(self) -> None:
        """The static picture's marks: each start, its end or where it leaves the view, its
        letter (moved up where another's stands), and arrowheads along it."""
        placed: list[np.ndarray] = []
        for path, head in zip(self.drawn, self.heads, strict=True):
            head.set_data([], [])
            xy = self.visible(path, self.until)
            finite = xy[np.all(np.isfinite(xy), axis=1)]
            if not len(finite):
                continue
            self.ax.plot(*finite[0], "o", mfc="white", mec=path.color, mew=1.8, ms=8, zorder=5,
                         clip_on=False)
            self._arrows(path, finite)
            self._letter(path, self._end(path, finite), placed)

    def _arrows(self, path: Path, xy: np.ndarray) -> None:
        """Arrowheads (no more) on :data:`ARROWS` of the path's steps, spread along it."""
        inside = self._inside(xy)
        scale = self.view[:, 1] - self.view[:, 0]
        if self.plane.rank == 1:
            scale = np.array([scale[0], np.ptp(self.ax.get_ylim())])
        steps = np.linalg.norm(np.diff(xy, axis=0) / scale, axis=1)
        if not steps.size or steps.sum() <= 0:
            return
        along = np.cumsum(steps) / steps.sum()
        for share in np.linspace(0, 1, ARROWS + 2)[1:-1]:
            i = int(np.searchsorted(along, share))
            if i < len(steps) and inside[i] and inside[i + 1] and steps[i] > 0.01:
                middle, direction = (xy[i] + xy[i + 1]) / 2, xy[i + 1] - xy[i]
                self.ax.annotate("", xy=middle + 0.01 * direction,
                                 xytext=middle - 0.01 * direction, zorder=4,
                                 arrowprops={"arrowstyle": "-|>", "color": path.color,
                                             "lw": 1.0, "mutation_scale": 13,
                                             "shrinkA": 0, "shrinkB": 0})

    def _inside(self, xy: np.ndarray) -> np.ndarray:
        """Which positions lie in the view (on a line: along it, and below the loss shown)."""
        if self.plane.rank == 1:
            top = self.ax.get_ylim()[1]
            return (xy[:, 0] >= self.view[0, 0]) & (xy[:, 0] <= self.view[0, 1]) & ~(
                xy[:, 1] > top)
        return np.all((xy >= self.view[:, 0]) & (xy <= self.view[:, 1]), axis=1)

    def _end(self, path: Path, xy: np.ndarray) -> np.ndarray:
        """The path's last mark: where it leaves the view (diverged), its end (a square, a
        cross where it diverged), or nothing where the picture stops it; returns where."""
        inside = self._inside(xy)
        if not inside.all():
            out = int(np.argmin(inside))
            if self.plane.rank == 2:
                where = exit_point(xy[out - 1], xy[out], self.view) if out else xy[0]
            else:  # on a line, it leaves along the loss: marked where it was last shown
                where = xy[max(out - 1, 0)]
            self.ax.plot(*where, "^", color=path.color, mec="black", ms=9, zorder=6,
                         clip_on=False)
            return where
        if path.steps[np.all(np.isfinite(path.coords), axis=1)][-1] <= self.until:
            self.ended = True
            self.ax.plot(*xy[-1], "X" if path.diverged else "s", color=path.color,
                         mec="black", ms=7, zorder=6, clip_on=False)
        return xy[-1]

    def _letter(self, path: Path, where: np.ndarray, placed: list[np.ndarray]) -> None:
        """``path``'s letter beside ``where``, raised by a line for each letter already
        placed within a few points of it (paths that end together)."""
        at = self.ax.transData.transform(where)
        near = sum(np.hypot(*(at - other)) < 14 for other in placed)
        placed.append(at)
        self.ax.annotate(path.letter, where, xytext=(6, 6 + 13 * near), textcoords="offset points",
                         annotation_clip=False, fontsize=9, fontweight="bold", zorder=8,
                         bbox={"boxstyle": "circle,pad=0.15", "fc": "white", "ec": path.color})

    def title(self, total: int) -> str:
        """What is shown: the updates, how often a position was recorded, the plane, how far
        the paths that did not diverge leave it, and the notes."""
        shown = (f"all {total} updates" if self.until >= total
                 else f"updates 0 to {self.until} of {total}")
        steps = self.drawn[0].steps
        every = int(steps[1] - steps[0]) if len(steps) > 1 else 1
        sampled = "" if every == 1 else f", a point every {every} updates"
        lines = [f"paths over the loss: {shown}{sampled}",
                 f"plane: {paths_mod.KINDS[self.plane.kind]}"]
        off = max((float(np.nanmax(p.distance[p.steps <= self.until], initial=0.0))
                   for p in self.drawn if not p.diverged), default=0.0)
        size = float(np.max(self.view[:, 1] - self.view[:, 0]))
        if off > 1e-3 * size:
            lines[-1] += f"; the paths that did not diverge leave it by up to {off:.2g}"
        return "\n".join(textwrap.fill(line, TITLE_WIDTH) for line in lines + self.notes)

    def legend(self, with_paths: bool, with_marks: bool = True) -> None:
        """The paths' labels (``with_paths``) and what the marks drawn mean (``with_marks``)."""
        handles = [Line2D([], [], color=p.color, lw=1.5, label=f"{p.letter}: {p.label}")
                   for p in self.drawn] if with_paths else []
        if with_marks:
            handles.append(Line2D([], [], ls="", marker="o", mfc="white", mec="0.3", mew=1.5,
                                  label="start"))
            if self.ended:
                handles.append(Line2D([], [], ls="", marker="s", color="0.3", label="end"))
            if any(p.diverged for p in self.drawn):
                handles.append(Line2D([], [], ls="", marker="^", color="0.3",
                                      label="diverged: leaves the view"))
            handles += self.marks
        self.ax.legend(handles=handles, fontsize=7, loc="best", framealpha=0.85)


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


#: An arrow pointing up, as a marker's outline (its tip at the top).
_ARROW = MplPath([(0.0, 1.0), (-0.7, 0.1), (-0.22, 0.1), (-0.22, -1.0), (0.22, -1.0),
                  (0.22, 0.1), (0.7, 0.1), (0.0, 1.0)], closed=True)


def _arrow(angle: float) -> MarkerStyle:
    """An arrow marker turned by ``angle`` degrees from pointing up (a triangle looks the
    same a third of a turn on, so it cannot point one way)."""
    return MarkerStyle(_ARROW, transform=Affine2D().rotate_deg(angle))


def _toward(ax: Any, box: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """The point on the border of ``box`` towards ``target`` from its centre, and the angle
    (degrees, on the page, from pointing up) of an arrow there pointing at it."""
    centre = box.mean(axis=1)
    edge = exit_point(centre, target, box)
    start, end = ax.transData.transform(np.stack([centre, target]))
    angle = math.degrees(math.atan2(end[1] - start[1], end[0] - start[0])) - 90.0
    return edge, angle


def _prepared(ds: xr.Dataset, points: Sequence[Mapping[str, Any]] | None,
              labels: Sequence[str] | None, letters: Sequence[str] | None,
              until: int | str | None) -> tuple[xr.Dataset, list[Path], int, int]:
    """The Dataset with the paths, the paths, their run's length, and the last update shown."""
    source = traced(ds, points)
    drawn = collect(source, points if source is ds else None, labels, letters)
    total = int(source.attrs.get("steps", drawn[0].steps[-1]))
    return source, drawn, total, resolve_until(until, drawn, total)


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
    are log-spaced levels of the loss on the plane; the landscape's minimum is a star, or a
    triangle on the border pointing to it. On a one-dimensional landscape the plane is a line:
    the loss along it, and each path drawn on it.

    Args:
        ds: a sweep's Dataset. Where it recorded no paths, ``points`` run again, exactly
            where they are, with every update recorded (:func:`lrscape.rerun`); a Dataset
            with paths gives its nearest grid points'; a Dataset of points with paths (what
            :func:`lrscape.rerun` returns) draws every point.
        points: one mapping of grid-axis values per path, e.g. ``[{"learning_rate": 0.02,
            "momentum": 0.8}]``.
        until: the last update drawn: ``"auto"`` (where the paths' fast motion has died,
            :func:`lrscape.plot.window`; the whole run where they keep turning), an update,
            or ``None`` (the whole run).
        labels, letters: each path's label (default: its grid values) and letter (A, B, ...).
        legend: ``True``, ``False``, or ``"markers"`` (what the marks mean, without the
            paths' labels: a figure whose other panel names them).

    Returns:
        The matplotlib ``Axes``.
    """
    source, drawn, total, end = _prepared(ds, points, labels, letters, until)
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


def movie_writer(path: str, fps: float) -> Any:
    """The matplotlib writer for ``path``: Pillow for ``.gif``, ffmpeg for ``.mp4``; a bad
    suffix, a missing ffmpeg or a bad ``fps`` are refused before anything is drawn."""
    from matplotlib import animation

    if isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0:
        raise ValueError(f"`fps` must be a number > 0, got {fps!r}")
    suffix = str(path).rsplit(".", 1)[-1].lower()
    if suffix == "gif":
        return animation.PillowWriter(fps=fps)
    if suffix == "mp4":
        if not animation.writers.is_available("ffmpeg"):
            raise ValueError(f"`path` {path!r}: an .mp4 needs ffmpeg, which is not installed; "
                             "write a .gif")
        return animation.FFMpegWriter(fps=fps)
    raise ValueError(f"the animation's path must end in .gif or .mp4, got {path!r}")


def animate_paths(
    ds: xr.Dataset,
    points: Sequence[Mapping[str, Any]] | None,
    path: str,
    *,
    frames: int = 60,
    fps: float = 15.0,
    until: int | str | None = "auto",
    labels: Sequence[str] | None = None,
    letters: Sequence[str] | None = None,
) -> str:
    """The paths of :func:`paths` moving step by step, written to ``path`` (``.gif`` with
    Pillow, ``.mp4`` with ffmpeg), ``frames`` frames evenly spread over the updates drawn,
    each titled with its update and frame. Returns ``path``."""
    from matplotlib import animation

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"`frames` must be an integer >= 1, got {frames!r}")
    writer = movie_writer(path, fps)
    source, drawn, total, end = _prepared(ds, points, labels, letters, until)
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
