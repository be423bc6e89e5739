"""The double well: the smallest landscape with period doubling and chaos."""

from __future__ import annotations

import jax

from .._fields import check_int, check_scalar, static_field
from ._base import Landscape, UniformStart, register, sum_small


@register("double-well")
class DoubleWell(UniformStart, Landscape):
    r"""A separable quartic double well.

    .. math::

        f(x) = \sum_{i=1}^{n} \frac{(x_i^2 - 1)^2}{4}, \qquad
        \nabla f(x)_i = x_i (x_i^2 - 1).

    Minima at :math:`x_i = \pm 1` (curvature 2), a maximum at 0. Gradient descent is the map
    :math:`x \mapsto x - \eta\, x (x^2 - 1)` in each coordinate: the minimum loses stability at
    :math:`\eta = 1` (:math:`\eta f'' = 2`) and the orbit period-doubles at
    :math:`\eta = 1, 1.2360680, 1.2880318, 1.2992279, \dots`
    (:func:`lrscape.theory.double_well_doublings`) towards chaos from about 1.3023: the
    logistic-map cascade in the smallest landscape a sweep can run.

    Fields:
        dim: number of (independent) coordinates, >= 1.
        start: every coordinate starts here (0.5 by default).
    """

    dim: int = static_field(1)
    start: float = 0.5

    def _validate(self) -> None:
        check_int(self, "dim", 1)
        check_scalar(self, "start")

    def loss(self, params: jax.Array) -> jax.Array:
        return 0.25 * sum_small((params * params - 1.0) ** 2)

    @property
    def minimum(self) -> float:
        return 0.0
