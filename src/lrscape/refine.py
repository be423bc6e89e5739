"""Adaptive boundary refinement: a phase image at full resolution from far fewer trajectories.

A boundary between classes (trained / not, or regimes) fills a vanishing fraction of a fine
image, so :func:`refine` evaluates a coarse lattice of the image's pixels, then subdivides
only the cells whose known points disagree in class, level by level, down to single pixels.
Every pixel it evaluates is computed by the sweep engine from exactly the hyperparameters the
brute-force grid gives that pixel, so it has exactly the brute-force value; every other pixel
lies in a cell whose known points all agree, and takes their class.

The image is a lattice of :math:`R \\times R` points, :math:`R - 1 = (C - 1)\\, 2^L`, with
:math:`C` points per side on the coarse lattice. At level :math:`s = 2^L, \\dots, 2` a cell is
the square of side :math:`s` between four known lattice points; it is *mixed* when the known
points on or inside it (corners, and any points that neighbouring refinements evaluated) do not
all share one class, and then its five midpoints at spacing :math:`s/2` are evaluated. Checks
repeat, at this level and all coarser ones, until no mixed cell has an unknown midpoint, so a
coarse cell that looked uniform from its corners is split as soon as a neighbour's refinement
finds a different class on its edge.

>>> import lrscape
>>> image = lrscape.refine("narrow-valley", "momentum",
...                        {"learning_rate": lrscape.logspace(1e-3, 0.1, 33),
...                         "momentum": lrscape.linspace(0.0, 0.99, 33)},
...                        coarse=5, by="regime", steps=200)
>>> image.attrs["evaluated"] < image.attrs["brute_force"] == 33 * 33
True
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .experiment import Experiment
from .landscapes import Landscape
from .observe import Observe

#: What a class image can be built from: the trainability class or the regime.
CLASSES = ("trainable", "regime")


def _levels(resolution: int, coarse: int) -> int:
    """``L`` with ``resolution - 1 == (coarse - 1) * 2**L``, or an error naming both."""
    if coarse < 2 or resolution < coarse:
        raise ValueError(f"`coarse` = {coarse} must be >= 2 and at most the axes' length "
                         f"{resolution}")
    ratio, rest = divmod(resolution - 1, coarse - 1)
    if rest or ratio & (ratio - 1):
        raise ValueError(
            f"the axes' length {resolution} must be (coarse - 1) * 2**L + 1 for `coarse` = "
            f"{coarse}, e.g. {(coarse - 1) * 32 + 1}")
    return int(ratio).bit_length() - 1


def _cells(known: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners ``(i, j)`` of the cells of side ``size`` whose four corners are known."""
    n = known.shape[0]
    i, j = np.meshgrid(np.arange(0, n - 1, size), np.arange(0, n - 1, size), indexing="ij")
    ok = known[i, j] & known[i + size, j] & known[i, j + size] & known[i + size, j + size]
    return i[ok], j[ok]


def _class_tables(classes: np.ndarray, known: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class, the summed-area table of the known points holding it: shape
    ``(n_classes, H + 1, W + 1)``."""
    tables = np.zeros((n_classes, known.shape[0] + 1, known.shape[1] + 1), np.int64)
    for k in range(n_classes):
        tables[k, 1:, 1:] = np.cumsum(np.cumsum(known & (classes == k), axis=0), axis=1)
    return tables


def _mixed(tables: np.ndarray, i: np.ndarray, j: np.ndarray, size: int) -> np.ndarray:
    """Whether the known points in each closed cell ``[i, i+size] x [j, j+size]`` hold more
    than one class."""
    a, b, c, d = i, i + size + 1, j, j + size + 1
    counts = tables[:, b, d] - tables[:, a, d] - tables[:, b, c] + tables[:, a, c]
    return (counts > 0).sum(axis=0) > 1


def _midpoints(i: np.ndarray, j: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    h = size // 2
    rows = np.concatenate([i + h, i, i + h, i + h, i + size])
    cols = np.concatenate([j, j + h, j + h, j + size, j + h])
    return rows, cols


def refine(
    landscape: Landscape | str,
    optimizer: Any = "sgd",
    axes: Mapping[str, Sequence[float]] | None = None,
    *,
    coarse: int = 33,
    by: str = "trainable",
    block: int = 256,
    progress: bool | None = False,
    **sweep_kwargs: Any,
) -> xr.Dataset:
    """The class image of a 2-D grid, computed only where the class changes.

    Args:
        landscape, optimizer: as for :func:`lrscape.sweep`.
        axes: the two grid axes, ``name -> values`` (first: rows, second: columns), each of
            length :math:`R` with :math:`R - 1 = (C - 1)\\,2^L`: the brute-force grid whose
            image this reproduces.
        coarse: :math:`C`, points per side of the first, coarse lattice.
        by: the class the boundary separates: ``"trainable"`` (Sohl-Dickstein's convergence
            measure; ``trainability=True`` is implied) or ``"regime"``.
        block: trajectories per compiled call. Each batch of new points is padded to a
            multiple of it, so one compiled program serves every level. Evaluated pixels equal
            a brute-force ``sweep(..., chunk_size=block)`` bit for bit; with another chunk
            size they can differ in the last bit, because XLA's CPU matrix products sum in an
            order that depends on the program's batch size (and on a fractal boundary one bit
            can change a pixel's class).
        progress: a progress bar per batch (default off).
        **sweep_kwargs: the rest of :func:`lrscape.sweep`'s keyword arguments (``steps``,
            ``dtype``, ``seed``, ``schedule``, ``executor``, ...), the same for every pixel;
            not ``grid``, ``points``, ``store`` or ``chunk_size``, which refine sets itself.
            They are checked once, before anything is simulated, by building the
            :class:`~lrscape.experiment.Experiment` they describe: a keyword ``sweep`` does
            not take, or a bad value, is a ``ValueError`` naming it.

    Returns:
        A Dataset over the two axes: ``by`` for every pixel (evaluated or inferred),
        ``evaluated`` (which pixels were run), and the sweep's per-trajectory variables where
        evaluated (NaN elsewhere). ``attrs``: ``evaluated`` and ``brute_force`` (trajectory
        counts), ``saving`` (their ratio), ``levels``, ``coarse``.
    """
    if by not in CLASSES:
        raise ValueError(f"`by` must be one of {CLASSES}, got {by!r}")
    rows, cols = _image_axes(axes, sweep_kwargs)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"`block` must be an integer >= 1, got {block!r}")
    levels = _levels(rows[1].size, coarse)
    sweep_kwargs = _checked_sweep_kwargs(
        landscape, optimizer, {rows[0]: rows[1][:1], cols[0]: cols[1][:1]}, by, block,
        sweep_kwargs)
    pixels = _Pixels(landscape, optimizer, rows, cols, by=by, block=block, progress=progress,
                     sweep_kwargs=sweep_kwargs)
    step = 1 << levels
    n = pixels.n
    pixels.evaluate(*(m.ravel() for m in np.meshgrid(np.arange(0, n, step),
                                                     np.arange(0, n, step), indexing="ij")))
    _refine_mixed_cells(pixels, step)
    image = _fill_uniform_cells(pixels.classes, pixels.known, step, pixels.n_classes)
    _warn_if_one_class(image, by, optimizer)
    return pixels.image(image, coarse=coarse, levels=levels)


def _warn_if_one_class(image: np.ndarray, by: str, optimizer: Any) -> None:
    """A class image with no boundary in it is almost always a window in the wrong place
    (or the wrong optimizer): say so rather than return a uniform picture silently."""
    classes = np.unique(image)
    if classes.size != 1:
        return
    value = bool(classes[0]) if by == "trainable" else int(classes[0])
    name = getattr(optimizer, "name", optimizer)
    warnings.warn(
        f"every pixel of the refined image has {by} = {value}: there is no boundary inside "
        f"these axes (optimizer {name!r}); widen or move the axes, or check the optimizer "
        f"(Sohl-Dickstein's network is trained by plain gradient descent, 'sgd')",
        stacklevel=3)


def _image_axes(axes: Mapping[str, Sequence[float]] | None, sweep_kwargs: Mapping[str, Any]
                ) -> tuple[tuple[str, np.ndarray], tuple[str, np.ndarray]]:
    """The rows' and the columns' axis, ``(name, values)``, checked."""
    if not isinstance(axes, Mapping) or len(axes) != 2:
        raise ValueError(f"`axes` must map two axis names to their values, got {axes!r}")
    if "grid" in sweep_kwargs or "points" in sweep_kwargs or "store" in sweep_kwargs:
        raise ValueError("`refine` makes its own points; pass no `grid`, `points` or `store`")
    rows, cols = ((k, np.asarray(v, float)) for k, v in axes.items())
    if rows[1].ndim != 1 or rows[1].shape != cols[1].shape:
        raise ValueError(f"the two axes must be 1-D of one length, got {rows[1].shape} and "
                         f"{cols[1].shape}")
    return rows, cols


def _checked_sweep_kwargs(landscape: Landscape | str, optimizer: Any,
                          points: Mapping[str, np.ndarray], by: str, block: int,
                          sweep_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``sweep_kwargs`` as every batch's :func:`~lrscape.sweep.sweep` gets them, checked
    once: the experiment they describe (on one point of the image) and its run options are
    built, so that a keyword ``sweep`` does not take, or a bad value, is refused before
    anything compiles."""
    from . import executors
    from .sweep import _observe, _run_options, sweep

    if "chunk_size" in sweep_kwargs:
        raise ValueError("`refine` runs `block` trajectories per compiled call; pass `block`, "
                         "not `chunk_size`")
    keywords = {name for name, p in inspect.signature(sweep).parameters.items()
                if p.kind is inspect.Parameter.KEYWORD_ONLY} - {"progress"}
    if unknown := sorted(set(sweep_kwargs) - keywords):
        raise ValueError(f"`refine` got unknown keyword(s) {unknown}; it passes on "
                         f"lrscape.sweep's {sorted(keywords - {'points', 'store', 'chunk_size'})}")
    kwargs = dict(sweep_kwargs)
    observed = {f.name for f in dataclasses.fields(Observe)}
    observe = _observe(kwargs.pop("observe", None),
                       **{k: kwargs.pop(k) for k in observed & set(kwargs)})
    if by == "trainable":
        observe = dataclasses.replace(observe, trainability=True)
    kwargs["observe"] = observe
    simulated = set(inspect.signature(Experiment.create).parameters) & keywords
    experiment = Experiment.create(landscape, optimizer, points=points,
                                   **{k: v for k, v in kwargs.items() if k in simulated})
    run = {k: v for k, v in kwargs.items() if k not in simulated}
    devices, _ = _run_options(experiment, run.get("devices"), block, run.get("max_memory"),
                              None, run.get("records", True))
    executors.get(run.get("executor"), devices=devices)
    return kwargs


class _Pixels:
    """The image's pixels as they are evaluated: their classes, which are known, and the
    sweep's per-trajectory variables where evaluated."""

    def __init__(self, landscape: Landscape | str, optimizer: Any,
                 rows: tuple[str, np.ndarray], cols: tuple[str, np.ndarray], *, by: str,
                 block: int, progress: bool | None, sweep_kwargs: dict[str, Any]):
        self.landscape, self.optimizer = landscape, optimizer
        self.rows, self.cols = rows, cols
        self.by, self.block, self.progress = by, block, progress
        self.sweep_kwargs = sweep_kwargs
        self.n = n = rows[1].size
        self.n_classes = 2 if by == "trainable" else 5
        self.classes = np.full((n, n), -1, np.int16)
        self.known = np.zeros((n, n), bool)
        self.results: dict[str, np.ndarray] = {}
        self.attrs: dict[str, Any] = {}

    def evaluate(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Simulate the pixels ``(rows[k], cols[k])`` not known yet."""
        from .sweep import sweep

        n, block, by = self.n, self.block, self.by
        flat = np.unique(rows * n + cols)
        flat = flat[~self.known.ravel()[flat]]
        if flat.size == 0:
            return
        # Pad to a multiple of `block`: one compiled program of `block` trajectories runs
        # every batch, the same program a brute-force sweep with chunk_size=block runs.
        padded = np.concatenate([flat, np.full(-flat.size % block, flat[-1])])
        r, c = np.divmod(padded, n)
        (row_name, row_values), (col_name, col_values) = self.rows, self.cols
        with warnings.catch_warnings():
            if by == "trainable":  # the image is of trainability: regimes are by the way
                warnings.filterwarnings("ignore", message=".*can be labelled CHAOTIC")
            ds = sweep(self.landscape, self.optimizer,
                       points={row_name: row_values[r], col_name: col_values[c]},
                       chunk_size=block, progress=self.progress, **self.sweep_kwargs)
        r, c = r[: flat.size], c[: flat.size]
        for name, var in ds.data_vars.items():
            if var.dims != ("point",) or name == by:
                continue
            if name not in self.results:
                self.results[name] = np.full((n, n), np.nan)
            self.results[name][r, c] = var.values[: flat.size]
        self.classes[r, c] = ds[by].values[: flat.size].astype(np.int16)
        self.known[r, c] = True
        if not self.attrs:
            self.attrs.update({k: v for k, v in ds.attrs.items() if k != "grid_axes"})

    def image(self, image: np.ndarray, *, coarse: int, levels: int) -> xr.Dataset:
        """The Dataset :func:`refine` returns, of the filled class ``image``."""
        by, n = self.by, self.n
        evaluated = int(self.known.sum())
        dims = (self.rows[0], self.cols[0])
        data: dict[str, Any] = {
            by: (dims, image.astype(bool if by == "trainable" else np.int8),
                 {"long_name": f"{by} (simulated where `evaluated`, else from a uniform cell)"}),
            "evaluated": (dims, self.known, {"long_name": "pixel was simulated"})}
        for name, values in self.results.items():
            data[name] = (dims, values)
        out = xr.Dataset(data, coords=dict((self.rows, self.cols)))
        out.attrs.update(self.attrs)
        out.attrs.update({"refined_by": by, "coarse": coarse, "levels": levels,
                          "evaluated": evaluated, "brute_force": n * n,
                          "saving": n * n / max(evaluated, 1)})
        return out


def _refine_mixed_cells(pixels: _Pixels, step: int) -> None:
    """Evaluate the midpoints of mixed cells, level by level from cells of side ``step``
    down to 2, until no mixed cell, at a level or a coarser one, has an unknown midpoint."""
    size = step
    while size > 1:
        while True:
            rows, cols = [], []
            tables = _class_tables(pixels.classes, pixels.known, pixels.n_classes)
            t = step
            while t >= size:
                i, j = _cells(pixels.known, t)
                mixed = _mixed(tables, i, j, t)
                r, c = _midpoints(i[mixed], j[mixed], t)
                rows.append(r)
                cols.append(c)
                t //= 2
            r, c = np.concatenate(rows), np.concatenate(cols)
            todo = ~pixels.known[r, c]
            if not todo.any():
                break
            pixels.evaluate(r[todo], c[todo])
        size //= 2


def _fill_uniform_cells(classes: np.ndarray, known: np.ndarray, step: int,
                        n_classes: int) -> np.ndarray:
    """The class image: what was not evaluated takes the class of the smallest uniform cell
    around it, filled coarse to fine."""
    image = classes.copy()  # -1 where not simulated
    tables = _class_tables(classes, known, n_classes)
    t = step
    while t >= 2:
        i, j = _cells(known, t)
        uniform = ~_mixed(tables, i, j, t)
        for a, b in zip(i[uniform], j[uniform], strict=True):
            patch = image[a:a + t + 1, b:b + t + 1]
            patch[patch < 0] = classes[a, b]
        t //= 2
    if (image < 0).any():  # cannot happen: every pixel lies in a uniform cell or was run
        raise RuntimeError("refine left pixels unclassified")
    return image


#: Pixels closer than this many float64 steps (ulps) apart are not drawn: the rounding of the
#: hyperparameters would move them by more than 1/16 of a pixel.
MIN_ULPS_PER_PIXEL = 8


def zoom_axis(centre: float, half_width: float, resolution: int) -> np.ndarray:
    """``resolution`` values from ``centre * 10**-half_width`` to ``centre * 10**half_width``,
    evenly spaced in log, computed so that only the final rounding to float64 limits them."""
    offsets = np.linspace(-half_width, half_width, resolution)
    return centre * np.exp(np.log(10.0) * offsets)


def ulps_per_pixel(values: np.ndarray) -> float:
    """The smallest gap between neighbouring values, in float64 steps at their magnitude."""
    values = np.asarray(values, np.float64)
    return float(np.min(np.diff(values)) / np.spacing(np.max(np.abs(values))))


def zoom(
    landscape: Landscape | str,
    optimizer: Any,
    axes: tuple[str, str],
    centre: tuple[float, float],
    half_widths: Sequence[float],
    *,
    resolution: int = 129,
    coarse: int = 17,
    follow_boundary: bool = True,
    by: str = "trainable",
    **refine_kwargs: Any,
) -> list[xr.Dataset]:
    """A zoom into a phase boundary: one refined image per frame, in float64.

    Frame ``k`` spans ``centre * 10**(+-half_widths[k])`` on both axes (log spacing). With
    ``follow_boundary``, each next frame is centred on the boundary pixel nearest to the
    current frame's centre, so the zoom stays on the boundary. A frame whose neighbouring
    pixels would be fewer than :data:`MIN_ULPS_PER_PIXEL` float64 steps apart is not computed:
    its Dataset is empty, with ``attrs["float64_exhausted"] = 1`` and the ulps per pixel it
    would have had, so the resolution limit is reported instead of drawn as noise.

    Returns one Dataset per frame, from :func:`refine`, with ``attrs``: ``frame``,
    ``centre_row``, ``centre_col``, ``half_width`` (decades), ``ulps_per_pixel``,
    ``float64_exhausted``.
    """
    from .fractal import boundary

    if len(axes) != 2:
        raise ValueError(f"`axes` must name two grid axes, got {axes!r}")
    if any(not (np.isfinite(c) and c > 0) for c in centre):
        raise ValueError(f"`centre` must be two positive values, got {centre!r}")
    if not half_widths or any(not (np.isfinite(w) and w > 0) for w in half_widths):
        raise ValueError(f"`half_widths` must be positive decades, got {half_widths!r}")
    refine_kwargs.setdefault("dtype", "float64")
    row_c, col_c = map(float, centre)
    frames = []
    for k, width in enumerate(half_widths):
        rows = zoom_axis(row_c, width, resolution)
        cols = zoom_axis(col_c, width, resolution)
        ulps = min(ulps_per_pixel(rows), ulps_per_pixel(cols))
        info = {"frame": k, "centre_row": row_c, "centre_col": col_c, "half_width": width,
                "ulps_per_pixel": ulps}
        if ulps < MIN_ULPS_PER_PIXEL:
            frames.append(xr.Dataset(attrs={**info, "float64_exhausted": 1}))
            continue
        image = refine(landscape, optimizer, {axes[0]: rows, axes[1]: cols}, coarse=coarse,
                       by=by, **refine_kwargs)
        image.attrs.update({**info, "float64_exhausted": 0})
        frames.append(image)
        if follow_boundary:
            edge = boundary(image[by].values)
            if edge.any():
                i, j = np.nonzero(edge)
                mid = (resolution - 1) / 2 - 0.5
                nearest = np.argmin((i - mid) ** 2 + (j - mid) ** 2)
                row_c = float(np.sqrt(rows[i[nearest]] * rows[i[nearest] + 1]))
                col_c = float(np.sqrt(cols[j[nearest]] * cols[j[nearest] + 1]))
    return frames
