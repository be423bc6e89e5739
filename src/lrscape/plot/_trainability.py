"""Trainability images, zooms into their boundary, and box-counting plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.patches import Patch

from ._axes import _edges, _is_log, _label

TRAINABLE_LABELS = {True: "trains (last 20 losses below the first, on average)",
                    False: "does not train (diverges or stalls)"}


def trainability_shades(score: np.ndarray, trainable: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] for an image of the trainability score: trained pixels in [-1, -0.2]
    and the rest in [0.2, 1], each side ranked so its whole shade range is used (faster
    training and faster divergence darker); pixels with no score (NaN, not simulated) take
    their side's middle shade."""
    score, trainable = np.asarray(score, float), np.asarray(trainable, bool)
    shades = np.where(trainable, -0.6, 0.6)
    for side, sign in ((trainable, -1.0), (~trainable, 1.0)):
        known = side & np.isfinite(score)
        if known.sum() > 1:
            # Both sides: a smaller score is faster (training: more negative -sum v;
            # diverging: a smaller sum of 1/v), and darker.
            order = np.argsort(np.argsort(score[known]))
            shades[known] = sign * (1.0 - 0.8 * order / (known.sum() - 1))
    return shades


def trainability_image(
    ds: xr.Dataset, ax: Any = None, *, relative: bool = False, title: str | None = None,
) -> Any:
    """The trainability image of a 2-D Dataset from :func:`lrscape.sweep` (with
    ``trainability=True``) or :func:`lrscape.refine`: blue where training converges, red where
    it does not, shaded by the score where every pixel has one (a brute-force grid; a refined
    image shows the two classes).

    ``relative``: label the axes in decades from the image's centre (for zoom frames, whose
    absolute coordinates differ in their 13th digit).
    """
    ax = ax or plt.gca()
    rows, cols = (d for d in ds["trainable"].dims)
    score = ds["trainability"].values if "trainability" in ds else None
    if score is None or not np.isfinite(score).all():
        # A refined image has scores only where it ran: shading those alone would speckle it.
        score = np.full(ds["trainable"].shape, np.nan)
    shades = trainability_shades(score, ds["trainable"].values)
    if relative:
        half = float(ds.attrs.get("half_width", 1.0))
        ax.imshow(shades, origin="lower", cmap="RdBu_r", vmin=-1, vmax=1,
                  extent=(-half, half, -half, half), interpolation="nearest")
        ax.set_xlabel(f"{_label(ds, cols).replace(' (log scale)', '')}: decades from centre")
        ax.set_ylabel(f"{_label(ds, rows).replace(' (log scale)', '')}: decades from centre")
    else:
        x_edges = _edges(ds[cols].values, _is_log(ds, cols))
        y_edges = _edges(ds[rows].values, _is_log(ds, rows))
        ax.pcolormesh(x_edges, y_edges, shades, cmap="RdBu_r", vmin=-1, vmax=1,
                      rasterized=True)
        if _is_log(ds, cols):
            ax.set_xscale("log")
        if _is_log(ds, rows):
            ax.set_yscale("log")
        ax.set_xlabel(_label(ds, cols))
        ax.set_ylabel(_label(ds, rows))
    if title is not None:
        ax.set_title(title)
    cmap = plt.get_cmap("RdBu_r")
    ax.legend(handles=[Patch(color=cmap(0.15), label=TRAINABLE_LABELS[True]),
                       Patch(color=cmap(0.85), label=TRAINABLE_LABELS[False])],
              loc="lower left", fontsize="x-small", framealpha=0.85)
    return ax


def _exhausted_panel(frame: xr.Dataset, ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"float64 exhausted\n±{frame.attrs['half_width']:.0e} decades:\n"
                      f"{frame.attrs['ulps_per_pixel']:.1f} float64 steps per pixel\n"
                      "(not drawn)", ha="center", va="center", transform=ax.transAxes)


def zoom_figure(frames: Sequence[xr.Dataset], path: str | None = None, *,
                columns: int = 4) -> Any:
    """The frames of :func:`lrscape.refine.zoom` side by side; frames past float64's
    resolution say so instead of showing noise."""
    n = len(frames)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), squeeze=False)
    for ax, frame in zip(axes.ravel(), frames, strict=False):
        half = frame.attrs["half_width"]
        ax.set_title(f"frame {frame.attrs['frame']}: ±{half:.1e} decades", fontsize="small")
        if frame.attrs.get("float64_exhausted"):
            _exhausted_panel(frame, ax)
        else:
            trainability_image(frame, ax, relative=True)
            ax.get_legend().remove()
            ax.xaxis.label.set_fontsize("x-small")
            ax.yaxis.label.set_fontsize("x-small")
    for ax in axes.ravel()[n:]:
        ax.remove()
    first = frames[0].attrs
    fig.suptitle(f"zoom into the trainability boundary, centred near "
                 f"({first['centre_row']:.4g}, {first['centre_col']:.4g}); blue trains, red "
                 "does not", fontsize="medium")
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=110)
    return fig


def zoom_animation(frames: Sequence[xr.Dataset], path: str, *, fps: float = 1.5) -> None:
    """The zoom as an animated GIF (one frame per zoom frame)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(5, 5))

    def draw(k: int) -> None:
        ax.clear()
        frame = frames[k]
        ax.set_title(f"frame {k}: ±{frame.attrs['half_width']:.1e} decades", fontsize="small")
        if frame.attrs.get("float64_exhausted"):
            _exhausted_panel(frame, ax)
        else:
            trainability_image(frame, ax, relative=True)

    animation = FuncAnimation(fig, draw, frames=len(frames))
    animation.save(path, writer=PillowWriter(fps=fps))
    plt.close(fig)


def box_counting_plot(fit: Any, ax: Any = None, *, label: str = "boundary") -> Any:
    """Box counts N(s) against box side s (log-log) with the fitted slope over its range."""
    ax = ax or plt.gca()
    line = ax.loglog(fit.sizes, fit.counts, "o", label=f"{label}: N(s)")[0]
    lo, hi = fit.fit_range
    inside = (fit.sizes >= lo) & (fit.sizes <= hi)
    sizes = fit.sizes[inside]
    anchor = np.exp(np.mean(np.log(fit.counts[inside]) + fit.dimension * np.log(sizes)))
    ax.loglog(sizes, anchor * sizes ** -fit.dimension, "-", color=line.get_color(),
              label=f"{label}: D = {fit.dimension:.2f} ± {fit.stderr:.2f} (s = {lo}..{hi})")
    ax.set_xlabel("box side s (pixels, log scale)")
    ax.set_ylabel("boxes holding boundary, N(s) (log scale)")
    ax.legend(fontsize="x-small")
    return ax
