"""The figures' palette and words: a colour and a legend label per regime, in the sweep's
landscape's words."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.colors import BoundaryNorm, ListedColormap

from ..landscapes import Landscape
from ..landscapes._base import REGISTRY
from ..regimes import Regime

#: The Okabe-Ito palette, which readers with any of the common colour-vision deficiencies
#: can tell apart.
REGIME_COLORS = {
    Regime.MONOTONE: "#0072B2",  # blue: smooth descent
    Regime.RINGING: "#56B4E9",  # sky blue: underdamped, swinging back and forth
    Regime.OSCILLATORY: "#009E73",  # bluish green: zig-zag while descending
    Regime.PERIODIC: "#E69F00",  # orange: a cycle
    Regime.CHAOTIC: "#CC79A7",  # reddish purple: chaos
    Regime.DIVERGED: "#D55E00",  # vermillion: blew up
}
#: The legends' words; OSCILLATORY's are the landscape's own (:func:`regime_labels`).
REGIME_LABELS = {
    Regime.MONOTONE: "monotone (smooth descent)",
    Regime.OSCILLATORY: f"oscillatory ({Landscape.oscillation_words})",
    Regime.PERIODIC: "periodic orbit",
    Regime.CHAOTIC: "chaotic",
    Regime.DIVERGED: "diverged",
    Regime.RINGING: "ringing (overshoots and swings back)",
}
#: Trajectories an incomplete store does not hold (``regime`` = NOT_COMPUTED).
NOT_COMPUTED_COLOR = "#D9D9D9"
NOT_COMPUTED_LABEL = "not computed (the sweep was stopped: rerun it to finish)"
_CMAP = ListedColormap([REGIME_COLORS[r] for r in Regime]).with_extremes(bad=NOT_COMPUTED_COLOR)
_NORM = BoundaryNorm(np.arange(len(Regime) + 1) - 0.5, len(Regime))

#: Line styles of successive overlay curves: dashed, dotted, dash-dotted.
_OVERLAY_STYLES = ("--", ":", "-.")


def oscillation_words(ds: xr.Dataset) -> str:
    """What an OSCILLATORY trajectory does on the sweep's landscape: the words it declared
    (:attr:`lrscape.landscapes.Landscape.oscillation_words`), stored with the sweep, else
    those of the landscape registered under its name (a store written before they were
    stored), else the generic ones."""
    words = ds.attrs.get("oscillation_words")
    if isinstance(words, str) and words:
        return words
    return (REGISTRY.lookup(ds.attrs.get("landscape")) or Landscape).oscillation_words


def regime_labels(ds: xr.Dataset) -> dict[Regime, str]:
    """The legend's label of each regime, in the words of the sweep's landscape."""
    return {**REGIME_LABELS, Regime.OSCILLATORY: f"oscillatory ({oscillation_words(ds)})"}
