"""The largest Lyapunov exponent over a phase diagram's axes, with its neutral band."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap, TwoSlopeNorm

from ..regimes import DISPLAY_ORDER, Regime
from ._axes import _cells, _grid_axis, _select_plane, plane_axes, positions
from ._style import REGIME_COLORS, regime_labels

#: Lyapunov exponents below this are drawn at it: a fixed point that the map contracts to in
#: one step has an exponent near log(0), which would flatten every other value to nothing.
LYAPUNOV_FLOOR = -3.0
#: The colour scale of the Lyapunov map reaches at least this many neutral bands
#: (:func:`lyapunov_neutral`) either side of 0, so that exponents just beyond the band are
#: pale, not the scale's full red or blue.
LYAPUNOV_SCALE_BANDS = 10.0


def lyapunov_neutral(steps: int) -> float:
    r"""The exponents that a run of ``steps`` updates cannot tell from 0: :math:`|\lambda| <
    \ln T / T`, the rate of a separation that grew ``T``-fold over the ``T`` steps.

    The exponent is a finite-time estimate, :math:`\frac1T \ln(|v_T| / |v_0|)` for a tangent
    :math:`v`. Along a neutral direction (a flat valley floor, a network's rescaling
    symmetries) nearby trajectories drift apart linearly, not exponentially, and a transient
    or a drift growing like :math:`t^k` still gives :math:`k \ln T / T > 0`: every run of a
    small network reads slightly positive, monotone ones too. Chaos needs an exponent clearly
    above the band, on a bounded orbit.
    """
    return math.log(max(int(steps), 2)) / max(int(steps), 1)


def _lyapunov_title(neutral: float) -> str:
    return ("largest Lyapunov exponent λ per step: near 0 is neutral, not chaos\n"
            f"(|λ| < ln T / T = {neutral:.2g} cannot be told from 0; chaos needs λ clearly "
            "above it on a bounded orbit)")


def _lyapunov_colours(norm: TwoSlopeNorm, neutral: float) -> ListedColormap:
    """Red above 0, blue below, white across the neutral band ``|λ| < neutral``; grey for
    diverged runs (masked)."""
    size = 1024
    colours = plt.get_cmap("RdBu_r")(np.linspace(0, 1, size))
    low, high = (int(np.clip(norm(v), 0, 1) * size) for v in (-neutral, neutral))
    colours[low:high + 1] = (1.0, 1.0, 1.0, 1.0)
    return ListedColormap(colours).with_extremes(bad="0.75")


def lyapunov_map(
    ds: xr.Dataset,
    x: str | None = None,
    y: str | None = None,
    *,
    ax: Any = None,
    select: Mapping[str, Any] | None = None,
    max_cells: int | None = 1024,
) -> Any:
    """The largest Lyapunov exponent of each trajectory over the phase diagram's axes.

    Needs a sweep run with ``lyapunov=True``. Exponents within the neutral band
    (:func:`lyapunov_neutral`, ``ln T / T`` for ``T`` steps) cannot be told from 0 at the
    run's length, and are drawn as neutral. Two axes give a map coloured red where the exponent
    is positive (nearby trajectories separate; chaos where clearly so, on a bounded orbit),
    blue where it is negative (a stable fixed point or cycle), white across the neutral band;
    the scale reaches at least :data:`LYAPUNOV_SCALE_BANDS` bands either side, so an exponent
    just beyond it is pale. One axis gives the exponent against it, each point coloured by its
    regime, with the zero line and the band shaded. Diverged trajectories have none (grey on
    the map, absent on the curve); exponents below :data:`LYAPUNOV_FLOOR` are drawn at it.
    Arguments as for :func:`phase_diagram`. Returns the matplotlib ``Axes``.
    """
    if "lyapunov" not in ds:
        raise ValueError("this Dataset has no `lyapunov`: run the sweep with lyapunov=True "
                         "(lrscape sweep --lyapunov)")
    x, y = plane_axes(ds, x, y)
    plane = _select_plane(ds, [a for a in (x, y) if a], select)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5.5) if y else (8, 3.5), constrained_layout=True)
    neutral = lyapunov_neutral(ds.attrs.get("steps", 1000))
    if y is None:
        _lyapunov_curve(ax, ds, plane, x, neutral)
    else:
        _lyapunov_cells(ax, ds, plane, x, y, neutral, max_cells)
    ax.set_title(_lyapunov_title(neutral), fontsize="medium")
    return ax


def _lyapunov_curve(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, neutral: float
                    ) -> None:
    """The exponent along one axis: a point per run in its regime's colour, the band grey."""
    values = np.maximum(plane["lyapunov"].values, LYAPUNOV_FLOOR)
    regimes = plane["regime"].values
    labels = regime_labels(ds)
    ax.axhspan(-neutral, neutral, color="0.88", lw=0, zorder=0,
               label=f"neutral: |λ| < ln T / T = {neutral:.2g}")
    ax.axhline(0.0, color="black", lw=0.8)
    order = np.argsort(plane[x].values)
    where = positions(ds, x, plane[x].values)
    ax.plot(where[order], values[order], color="0.6", lw=0.8, zorder=1)
    for regime in DISPLAY_ORDER:
        shown = regimes == regime
        if regime != Regime.DIVERGED and shown.any():
            ax.scatter(where[shown], values[shown], s=10, zorder=2,
                       color=REGIME_COLORS[regime], label=labels[regime])
    ax.set_ylabel(f"largest Lyapunov exponent per step\n(clipped at {LYAPUNOV_FLOOR:g})")
    ax.legend(fontsize=8, frameon=False)
    _grid_axis(ax, ds, plane, x, "x")  # as the phase diagram's


def _lyapunov_cells(ax: Any, ds: xr.Dataset, plane: xr.Dataset, x: str, y: str,
                    neutral: float, max_cells: int | None) -> None:
    """The exponent over two axes, on a diverging scale white across the neutral band."""
    values = np.ma.masked_invalid(plane["lyapunov"].transpose(y, x).values)
    values = np.ma.maximum(values, LYAPUNOV_FLOOR)
    reach = LYAPUNOV_SCALE_BANDS * neutral
    top = max(float(values.max()) if values.count() else 0.0, reach)
    bottom = min(float(values.min()) if values.count() else 0.0, -reach)
    norm = TwoSlopeNorm(0.0, bottom, top)
    mesh = _cells(ax, ds, plane, x, y, values, max_cells,
                  cmap=_lyapunov_colours(norm, neutral), norm=norm)
    bar = plt.colorbar(mesh, ax=ax, label="largest Lyapunov exponent per step\n(white: "
                       f"|λ| < {neutral:.2g}, neutral; grey: diverged)")
    for edge in (-neutral, neutral):
        bar.ax.axhline(edge, color="0.3", lw=0.6)
