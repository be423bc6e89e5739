"""Synthetic loss landscapes, each a JAX pytree dataclass, gathered in a registry.

>>> import lrscape
>>> valley = lrscape.landscapes.get("narrow-valley", wall_curvature=50.0)
>>> float(valley.loss(valley.init(None)))
25.9...

Every landscape has ``loss(params)``, ``init(key)``, ``minimum`` and a docstring with its
formula. Numeric scalar fields are traced, so any of them can be a sweep axis; ``dim``,
``width`` and other shape-fixing fields are static.

Your own landscape is a subclass of :class:`Landscape` declared with :func:`register`, which
makes it a frozen keyword-only dataclass registered as a JAX pytree; shape-fixing fields are
declared with :func:`static_field`::

    @lrscape.landscapes.register("tilted-bowl")
    class TiltedBowl(lrscape.landscapes.Landscape):
        # f(x) = a x_0^2 / 2 + x_1^2 / 2 + t x_1

        a: float = 10.0
        t: float = 0.0

        def loss(self, x):
            return 0.5 * self.a * x[0] ** 2 + 0.5 * x[1] ** 2 + self.t * x[1]

        def init(self, key):
            return jnp.ones(2)

    lrscape.sweep(TiltedBowl(), "sgd", {"learning_rate": ..., "a": [1.0, 10.0]})

Class attributes (``typing.ClassVar``, not fields) say what the figures and warnings may
claim: ``random_start = False`` where ``init`` ignores its key, as this one's does (a ``seed``
axis over it, with no noise, is then warned of), ``oscillation_words`` for what an
OSCILLATORY run does there (``"bouncing across the valley"`` where there is one), and
``view_words`` for the axes of its paths' pictures. Two optional methods help those pictures
(:mod:`lrscape.paths`): ``minimizer()``, where the minimum is, and ``view_plane(start)``, the
plane to show where the Hessian's top two eigenvectors would miss what moves.
"""

from .._fields import static_field
from ._base import Landscape, available, get, register
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
    "register",
    "static_field",
]
