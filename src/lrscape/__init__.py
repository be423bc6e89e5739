"""lrscape: what a learning rate does to training, simulated on synthetic loss landscapes.

>>> import lrscape
>>> ds = lrscape.sweep(
...     lrscape.landscapes.get("quadratic", eigenvalues=[1.0]),
...     optimizer="sgd",
...     grid={"learning_rate": lrscape.linspace(0.1, 2.5, 25)},
...     steps=200, progress=False,
... )
>>> ds.regime.sel(learning_rate=2.5).item() == lrscape.Regime.DIVERGED
True
"""

from . import (
    cache,
    curvature,
    executors,
    experiment,
    fractal,
    grid,
    landscapes,
    observe,
    optimizers,
    paths,
    plan,
    regimes,
    schedules,
    theory,
    twin,
)
from ._version import VERSION as __version__
from .cache import use_compilation_cache
from .experiment import Experiment
from .grid import linspace, logspace
from .observe import Observe
from .paths import Plane
from .refine import refine
from .regimes import Regime, Thresholds, reclassify
from .rerun import rerun
from .store import open
from .sweep import sweep

__all__ = [
    "Experiment",
    "Observe",
    "Plane",
    "Regime",
    "Thresholds",
    "cache",
    "grid",
    "__version__",
    "curvature",
    "executors",
    "experiment",
    "fractal",
    "landscapes",
    "linspace",
    "logspace",
    "observe",
    "open",
    "optimizers",
    "paths",
    "plan",
    "reclassify",
    "refine",
    "regimes",
    "rerun",
    "schedules",
    "sweep",
    "theory",
    "twin",
    "use_compilation_cache",
]
