"""Quadratic bowls: the landscape on which every stability edge has a closed form."""

from __future__ import annotations

import functools

import jax
import numpy as np

from .._fields import check_optional_int, check_scalar, check_vector, derived_field, static_field
from ._base import Landscape, UniformStart, register, sum_small


@functools.lru_cache(maxsize=32)
def _orthogonal(dim: int, seed: int) -> np.ndarray:
    """A Haar-random orthogonal matrix (QR of a Gaussian matrix with the signs fixed)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    q = q * np.sign(np.diag(r))
    q.setflags(write=False)
    return q


@register("quadratic")
class Quadratic(UniformStart, Landscape):
    r"""A convex quadratic with a given spectrum, optionally rotated.

    .. math::

        f(x) = \tfrac12\, s \sum_{i=1}^{n} h_i\, y_i^2, \qquad y = Q^\top x,

    where :math:`h` is ``eigenvalues`` (the Hessian's spectrum up to the factor ``scale``),
    :math:`Q` is the identity or, when ``rotation_seed`` is set, a Haar-random orthogonal
    matrix drawn from that seed. The Hessian is :math:`s\,Q\,\mathrm{diag}(h)\,Q^\top`; its
    largest eigenvalue :math:`\lambda = s \max_i h_i` sets every stability edge
    (:mod:`lrscape.theory`): gradient descent diverges beyond :math:`\eta\lambda = 2`.

    Fields:
        eigenvalues: the spectrum :math:`h_i \ge 0` (its length is the dimension).
        scale: a scalar factor on all curvatures, sweepable (:math:`s > 0`).
        start: the starting point is ``start`` times the all-ones vector.
        rotation_seed: ``None`` for an axis-aligned bowl, else the seed of :math:`Q`.
    """

    _array_fields = ("eigenvalues",)

    eigenvalues: jax.Array = (1.0,)
    scale: float = 1.0
    start: float = 1.0
    rotation_seed: int | None = static_field(None)
    basis: jax.Array | None = derived_field()

    def _validate(self) -> None:
        check_scalar(self, "scale", positive=True)
        check_scalar(self, "start")
        check_optional_int(self, "rotation_seed")
        h = check_vector(self, "eigenvalues", nonnegative=True)
        if h is not None:
            object.__setattr__(self, "eigenvalues", h)
            if self.rotation_seed is not None and self.basis is None:
                basis = _orthogonal(h.size, int(self.rotation_seed))
                object.__setattr__(self, "basis", basis)

    @property
    def dim(self) -> int:
        return int(np.shape(self.eigenvalues)[0])

    def loss(self, params: jax.Array) -> jax.Array:
        y = params if self.basis is None else params @ self.basis
        return 0.5 * self.scale * sum_small(self.eigenvalues * y * y)

    @property
    def minimum(self) -> float:
        return 0.0

    def minimizer(self) -> np.ndarray:
        """The origin."""
        return np.zeros(self.dim)

    def edge_curvature(self) -> tuple[str, float] | None:
        r"""``("scale", max(eigenvalues))``: the top Hessian eigenvalue is :math:`s \max_i
        h_i`, the same everywhere; ``None`` for a flat bowl (every rate is stable)."""
        top = float(np.max(self.eigenvalues))
        return ("scale", top) if top > 0 else None

    def hessian_eigenvalues(self) -> np.ndarray:
        """The exact Hessian spectrum :math:`s\\,h`, sorted descending."""
        return np.sort(np.asarray(self.scale) * np.asarray(self.eigenvalues))[::-1]
