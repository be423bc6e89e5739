"""Rosenbrock's banana valley, in two and in n dimensions."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, fail, static_field
from ._base import Landscape, float_dtype, register, sum_small
from .valley import VALLEY_WORDS

_VARIANTS = ("chained", "extended")


@register("rosenbrock")
class Rosenbrock(Landscape):
    r"""Rosenbrock's function: a curved, flat-bottomed valley.

    The ``chained`` form (the usual n-D generalisation; the classic function for ``dim=2``):

    .. math::

        f(x) = \sum_{i=1}^{n-1} \left[ b\,(x_{i+1} - x_i^2)^2 + (a - x_i)^2 \right],

    and the ``extended`` form (Moré, Garbow & Hillstrom 1981), a sum of ``n/2`` independent
    2-D copies, ``dim`` even:

    .. math::

        f(x) = \sum_{i=1}^{n/2} \left[ b\,(x_{2i} - x_{2i-1}^2)^2 + (a - x_{2i-1})^2 \right].

    Both reduce to the classic function for ``dim=2``, with minimum 0 at :math:`(a, a^2)`.
    The start is the classic :math:`(-1.2, 1, -1.2, 1, \dots)`.

    Fields:
        dim: number of coordinates, >= 2.
        variant: ``"chained"`` or ``"extended"``.
        a: position of the minimum along the valley (1 classically).
        b: steepness of the valley's walls (100 classically), > 0.
    """

    random_start: ClassVar[bool] = False
    oscillation_words: ClassVar[str] = VALLEY_WORDS  # across the banana's curved valley

    dim: int = static_field(2)
    variant: str = static_field("chained")
    a: float = 1.0
    b: float = 100.0

    def _validate(self) -> None:
        check_int(self, "dim", 2)
        if self.variant not in _VARIANTS:
            fail(self, "variant", self.variant, f"one of {_VARIANTS}")
        if self.variant == "extended" and self.dim % 2:
            fail(self, "dim", self.dim, "even for the extended variant")
        check_scalar(self, "a")
        check_scalar(self, "b", positive=True)

    def loss(self, params: jax.Array) -> jax.Array:
        if self.variant == "chained":
            head, tail = params[..., :-1], params[..., 1:]
        else:
            head, tail = params[..., 0::2], params[..., 1::2]
        terms = self.b * (tail - head * head) ** 2 + (self.a - head) ** 2
        return sum_small(terms)

    def init(self, key: jax.Array) -> jax.Array:
        del key  # deterministic: the classic start
        start = np.where(np.arange(self.dim) % 2 == 0, -1.2, 1.0)  # float64: -1.2 unrounded
        return jnp.asarray(start, float_dtype(self.a, self.b))

    def minimizer(self) -> np.ndarray | None:
        r""":math:`(a, a^2, a, a^2, \dots)` where the minimum is known (see :attr:`minimum`):
        for two coordinates and the extended form; the chained form's for :math:`a \in
        \{0, 1\}`, where every coordinate is :math:`a`."""
        if self.minimum is None:
            return None
        a = float(self.a)
        if self.dim == 2 or self.variant == "extended":
            return np.where(np.arange(self.dim) % 2 == 0, a, a * a)
        return np.full(self.dim, a)

    @property
    def minimum(self) -> float | None:
        if self.dim == 2 or self.variant == "extended":
            return 0.0
        a = self.a
        return 0.0 if isinstance(a, int | float) and a in (0.0, 1.0) else None
