"""Rugged landscapes: a bowl with seeded random ripples, and Rastrigin's function."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, derived_field, static_field
from ._base import Landscape, float_dtype, register, sum_small


@functools.lru_cache(maxsize=32)
def _random_features(dim: int, n_features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Directions w_j ~ N(0, I/dim) as rows of a (n_features, dim) matrix, phases ~ U[0, 2pi),
    in float64 (a sweep casts them to its dtype)."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((n_features, dim)) / math.sqrt(dim)
    phases = rng.uniform(0.0, 2.0 * math.pi, n_features)
    for arr in (directions, phases):  # cached and shared: read-only
        arr.setflags(write=False)
    return directions, phases


@register("rugged-quadratic")
class RuggedQuadratic(Landscape):
    r"""An isotropic quadratic bowl with seeded random ripples on top.

    .. math::

        f(x) = \tfrac12\, c\, \lVert x \rVert^2
             + A \sqrt{\tfrac{2}{M}} \sum_{j=1}^{M} \cos\!\left(\omega\, w_j^\top x + \phi_j\right),

    with :math:`w_j \sim \mathcal N(0, I/n)` and :math:`\phi_j \sim U[0, 2\pi)` drawn once from
    ``seed``. The ripple term is a random-feature approximation (Rahimi & Recht 2007) of a
    stationary Gaussian random field with standard deviation :math:`A` and correlation length
    about :math:`1/\omega`, so the bowl's curvature :math:`c` competes with ripples of
    curvature up to about :math:`A\,\omega^2`. Small rates get caught in ripples; large ones
    step over them.

    Fields:
        dim: number of coordinates, >= 1.
        curvature: :math:`c > 0`, the bowl's curvature.
        amplitude: :math:`A \ge 0`, standard deviation of the ripples.
        frequency: :math:`\omega > 0`, spatial frequency of the ripples.
        init_scale: the start is drawn from :math:`\mathcal N(0, \text{init\_scale}^2 I)`.
        n_features: :math:`M`, number of random cosines, >= 1.
        seed: seed of the ripples (the same landscape for every trajectory).
    """

    dim: int = static_field(2)
    curvature: float = 1.0
    amplitude: float = 0.1
    frequency: float = 5.0
    init_scale: float = 1.0
    n_features: int = static_field(64)
    seed: int = static_field(0)
    directions: jax.Array | None = derived_field()
    phases: jax.Array | None = derived_field()

    def _validate(self) -> None:
        check_int(self, "dim", 1)
        check_int(self, "n_features", 1)
        check_int(self, "seed", 0)
        check_scalar(self, "curvature", positive=True)
        check_scalar(self, "amplitude", nonnegative=True)
        check_scalar(self, "frequency", positive=True)
        check_scalar(self, "init_scale", nonnegative=True)
        if self.directions is None:
            directions, phases = _random_features(self.dim, self.n_features, self.seed)
            object.__setattr__(self, "directions", directions)
            object.__setattr__(self, "phases", phases)

    def loss(self, params: jax.Array) -> jax.Array:
        bowl = 0.5 * self.curvature * sum_small(params * params)
        angles = self.frequency * (self.directions @ params) + self.phases
        ripples = self.amplitude * math.sqrt(2.0 / self.n_features) * jnp.sum(jnp.cos(angles))
        return bowl + ripples

    def init(self, key: jax.Array) -> jax.Array:
        dtype = float_dtype(self.init_scale)
        return self.init_scale * jax.random.normal(key, (self.dim,), dtype=dtype)


@register("rastrigin")
class Rastrigin(Landscape):
    r"""Rastrigin's function: a bowl covered by a regular lattice of local minima.

    .. math::

        f(x) = A\,n + \sum_{i=1}^{n} \left[ x_i^2 - A \cos(2\pi x_i) \right].

    Global minimum 0 at the origin; local minima near every integer point. The start is drawn
    uniformly from :math:`[-\text{init\_range}, \text{init\_range}]^n`.

    Fields:
        dim: number of coordinates, >= 1.
        A: depth of the lattice of local minima (10 classically), >= 0.
        init_range: half-width of the box the start is drawn from (5.12 classically).
    """

    dim: int = static_field(2)
    A: float = 10.0
    init_range: float = 5.12

    def _validate(self) -> None:
        check_int(self, "dim", 1)
        check_scalar(self, "A", nonnegative=True)
        check_scalar(self, "init_range", nonnegative=True)

    def loss(self, params: jax.Array) -> jax.Array:
        terms = params * params - self.A * jnp.cos(2.0 * jnp.pi * params)
        return self.A * self.dim + sum_small(terms)

    def init(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(
            key, (self.dim,), float_dtype(self.init_range), -self.init_range, self.init_range
        )

    @property
    def minimum(self) -> float:
        return 0.0

    def minimizer(self) -> np.ndarray:
        """The origin."""
        return np.zeros(self.dim)
