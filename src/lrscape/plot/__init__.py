"""Figures: phase diagrams of any two grid axes, what chosen trajectories recorded, and the
paths they took over the loss.

The only package that imports matplotlib. Every function takes the Dataset that
:func:`lrscape.sweep` returns (or :func:`lrscape.open` reads back) and an optional ``ax``.

- :func:`phase_diagram`, :func:`lyapunov_map`: the grid coloured by regime, or by the
  Lyapunov exponent;
- :func:`loss_curves`, :func:`epoch_curves`, :func:`sharpness_curves`: records along chosen
  trajectories;
- :func:`paths`, :func:`animate_paths`: where chosen trajectories went, over the loss
  contours of the sweep's path plane;
- :func:`summary_figure`: the phase diagram beside one trajectory of each regime, marked on
  it by letter;
- :func:`trainability_image`, :func:`zoom_figure`, :func:`zoom_animation`,
  :func:`box_counting_plot`: the trainability boundary and its fractal dimension.
"""

from ._axes import (
    HYPERPARAMETER_SYMBOLS,
    MAX_TICKED_VALUES,
    fixed_hyperparams,
    grid_axes,
    is_categorical,
    plane_axes,
    positions,
)
from ._curves import (
    OFF_SCALE_MARGIN,
    OFF_SCALE_RATIO,
    epoch_curves,
    loss_curves,
    sharpness_curves,
    stability_threshold,
)
from ._lyapunov import LYAPUNOV_FLOOR, LYAPUNOV_SCALE_BANDS, lyapunov_map, lyapunov_neutral
from ._path_data import LETTERS, window
from ._paths import animate_paths, paths
from ._phase import (
    BORDERLINE_HATCH,
    BORDERLINE_HATCH_COLOR,
    BORDERLINE_HATCH_WIDTH,
    DEFAULT_BORDERLINE,
    borderline_labels,
    phase_diagram,
    theory_overlays,
)
from ._style import (
    NOT_COMPUTED_COLOR,
    NOT_COMPUTED_LABEL,
    REGIME_COLORS,
    REGIME_LABELS,
    oscillation_words,
    regime_labels,
)
from ._summary import representative_points, summary_figure
from ._trainability import (
    TRAINABLE_LABELS,
    box_counting_plot,
    trainability_image,
    trainability_shades,
    zoom_animation,
    zoom_figure,
)
from ._twin import (
    PREDICTION_COLORS,
    fit_axes,
    prediction_axes,
    run_on_phase_diagram,
    twin_figure,
)

__all__ = [
    "LETTERS",
    "window",
    "twin_figure",
    "PREDICTION_COLORS",
    "fit_axes",
    "prediction_axes",
    "run_on_phase_diagram",
    "animate_paths",
    "paths",
    "BORDERLINE_HATCH",
    "BORDERLINE_HATCH_COLOR",
    "BORDERLINE_HATCH_WIDTH",
    "DEFAULT_BORDERLINE",
    "HYPERPARAMETER_SYMBOLS",
    "LYAPUNOV_FLOOR",
    "LYAPUNOV_SCALE_BANDS",
    "MAX_TICKED_VALUES",
    "NOT_COMPUTED_COLOR",
    "NOT_COMPUTED_LABEL",
    "OFF_SCALE_MARGIN",
    "OFF_SCALE_RATIO",
    "REGIME_COLORS",
    "REGIME_LABELS",
    "TRAINABLE_LABELS",
    "borderline_labels",
    "box_counting_plot",
    "epoch_curves",
    "fixed_hyperparams",
    "grid_axes",
    "is_categorical",
    "loss_curves",
    "lyapunov_map",
    "lyapunov_neutral",
    "oscillation_words",
    "phase_diagram",
    "plane_axes",
    "positions",
    "regime_labels",
    "representative_points",
    "sharpness_curves",
    "stability_threshold",
    "summary_figure",
    "theory_overlays",
    "trainability_image",
    "trainability_shades",
    "zoom_animation",
    "zoom_figure",
]

# Not public; the tests check these helpers directly.
from ._axes import _edges as _edges  # noqa: E402
from ._axes import _evenly_spaced as _evenly_spaced  # noqa: E402
from ._axes import _title as _title  # noqa: E402
