"""The two-layer linear network of the catapult mechanism."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._fields import check_int, check_scalar, static_field
from ._base import Landscape, float_dtype, register


@register("uv-model")
class UVModel(Landscape):
    r"""A width-:math:`n` two-layer linear network on one example (the catapult model).

    .. math::

        f(u, v) = \frac{v^\top u}{\sqrt n}, \qquad
        L(u, v) = \tfrac12 \left( f(u, v) - y \right)^2 .

    Parameters are the pytree ``(u, v)``, each of shape ``(width,)``, drawn from
    :math:`\mathcal N(0, \text{init\_scale}^2)`. The neural tangent kernel
    :math:`\lambda = (\lVert u \rVert^2 + \lVert v \rVert^2)/n` is the curvature that matters:
    with :math:`y = 0` gradient descent trains lazily for :math:`\eta\lambda_0 < 2`, catapults
    (the loss spikes, :math:`\lambda` drops below :math:`2/\eta`, then the loss converges) for
    :math:`2 < \eta\lambda_0 < 4`, and diverges beyond 4 (Lewkowycz et al., "The large learning
    rate phase of deep learning: the catapult mechanism", 2020).

    Fields:
        width: :math:`n`, the hidden width, >= 1.
        target: :math:`y`, the label.
        init_scale: standard deviation of the initial weights, >= 0.
    """

    width: int = static_field(100)
    target: float = 0.0
    init_scale: float = 1.0

    def _validate(self) -> None:
        check_int(self, "width", 1)
        check_scalar(self, "target")
        check_scalar(self, "init_scale", nonnegative=True)

    def output(self, params: tuple[jax.Array, jax.Array]) -> jax.Array:
        u, v = params
        return jnp.dot(v, u) / math.sqrt(self.width)

    def loss(self, params: tuple[jax.Array, jax.Array]) -> jax.Array:
        residual = self.output(params) - self.target
        return 0.5 * residual * residual

    def ntk(self, params: tuple[jax.Array, jax.Array]) -> jax.Array:
        """:math:`\\lambda = (\\lVert u\\rVert^2 + \\lVert v\\rVert^2)/n`."""
        u, v = params
        return (jnp.dot(u, u) + jnp.dot(v, v)) / self.width

    def parameter_groups(self, params: tuple[jax.Array, jax.Array]) -> tuple[str, str]:
        """Two groups, ``"u"`` and ``"v"``: one learning rate per layer."""
        return ("u", "v")

    def init(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        ku, kv = jax.random.split(key)
        shape, dtype = (self.width,), float_dtype(self.init_scale)
        u = self.init_scale * jax.random.normal(ku, shape, dtype=dtype)
        v = self.init_scale * jax.random.normal(kv, shape, dtype=dtype)
        return u, v

    @property
    def minimum(self) -> float:
        return 0.0
