"""Synthetic loss landscapes, each a JAX pytree dataclass, gathered in a registry.

>>> import lrscape
>>> valley = lrscape.landscapes.get("narrow-valley", wall_curvature=50.0)
>>> float(valley.loss(valley.init(None)))
25.9...

Every landscape has ``loss(params)``, ``init(key)``, ``minimum`` and a docstring with its
formula. Numeric scalar fields are traced, so any of them can be a sweep axis; ``dim``,
``width`` and other shape-fixing fields are static.
"""

from ._base import Landscape, available, get
from .datasets import FiniteSum, LinearRegression, LogisticRegression, Split, TeacherStudent
from .double_well import DoubleWell
from .mlp import MLP
from .quadratic import Quadratic
from .rosenbrock import Rosenbrock
from .rugged import Rastrigin, RuggedQuadratic
from .stochastic import NoisyQuadratic, StochasticLandscape
from .uv import UVModel
from .valley import NarrowValley, TwistedValley

__all__ = [
    "DoubleWell",
    "FiniteSum",
    "Landscape",
    "LinearRegression",
    "LogisticRegression",
    "MLP",
    "NarrowValley",
    "NoisyQuadratic",
    "Quadratic",
    "Rastrigin",
    "Rosenbrock",
    "RuggedQuadratic",
    "Split",
    "StochasticLandscape",
    "TeacherStudent",
    "TwistedValley",
    "UVModel",
    "available",
    "get",
]
