"""Landscapes whose gradient is a random estimate: the noisy quadratic model and its kin.

A :class:`StochasticLandscape` adds to ``loss`` what a training loop has: at every step a
``batch`` is drawn (:meth:`~StochasticLandscape.sample`, from a per-trajectory sampler state)
and the optimizer sees the gradient of :meth:`~StochasticLandscape.batch_loss`, whose value is
what a training loop would log as the minibatch loss. ``loss`` stays the full, noise-free
objective. Finite-sum landscapes with data (:mod:`lrscape.landscapes.datasets`) also have
epochs and a validation set.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, check_vector, static_field
from ._base import Landscape, Params, UniformStart, float_dtype, register, sum_small


class StochasticLandscape(Landscape):
    """Base class of landscapes with a random gradient at every step.

    Subclasses define :meth:`sampler`, :meth:`sample` and :meth:`batch_loss` besides the
    :class:`~lrscape.landscapes.Landscape` methods. ``sample`` receives the step number, which
    is the same for every trajectory of a sweep, so work that happens only at some steps (a
    reshuffle at an epoch's start) can branch on it with ``lax.cond`` and stay a branch under
    ``vmap``.
    """

    @property
    def steps_per_epoch(self) -> int | None:
        """Updates per epoch for finite-sum landscapes; ``None`` where there are no epochs."""
        return None

    def sampler(self, key: jax.Array) -> Any:
        """The sampler's state at step 0 for one trajectory (a pytree), from its PRNG key."""
        return key

    def sample(self, state: Any, step: jax.Array) -> tuple[Any, Any]:
        """The batch of update ``step`` and the sampler's next state."""
        raise NotImplementedError

    def batch_loss(self, params: Params, batch: Any) -> jax.Array:
        """The minibatch loss: its gradient is the stochastic gradient the optimizer sees."""
        raise NotImplementedError


@register("noisy-quadratic")
class NoisyQuadratic(UniformStart, StochasticLandscape):
    r"""The noisy quadratic model: a quadratic whose gradient has covariance :math:`H/B`.

    .. math::

        L(x) = \tfrac12 \sum_{i=1}^{n} h_i x_i^2, \qquad
        \hat L_t(x) = \tfrac12 \sum_{i=1}^{n} h_i \left(x_i - c_{t,i}\right)^2, \quad
        c_{t,i} \sim \mathcal N\!\left(0, \tfrac{1}{B h_i}\right)

    drawn afresh at every step, so the minibatch gradient :math:`h_i (x_i - c_{t,i})` is the
    true gradient plus noise of covariance :math:`H/B` (Zhang et al., "Which algorithmic
    choices matter at which batch sizes? Insights from a noisy quadratic model", 2019). The
    minibatch loss exceeds the full loss by :math:`n/(2B)` on average. For SGD at rate
    :math:`\eta`, :math:`s_i = \mathbb E[x_i^2]` follows
    :math:`s_i^+ = (1 - \eta h_i)^2 s_i + \eta^2 h_i / B` and the expected loss settles at
    :math:`\sum_i \eta h_i / (2B(2 - \eta h_i))` (:func:`lrscape.theory.nqm_expected_loss`).

    Fields:
        dim: :math:`n`, the number of parameters (used when ``eigenvalues`` is not given).
        eigenvalues: the curvatures :math:`h_i > 0`; default :math:`h_i = 1/i`.
        batch_size: :math:`B > 0`, which scales the noise down; sweepable, need not be whole.
        start: every coordinate starts here.
    """

    _array_fields = ("eigenvalues",)

    dim: int = static_field(100)
    batch_size: float = 1.0
    start: float = 1.0
    eigenvalues: jax.Array | None = None

    def _validate(self) -> None:
        check_scalar(self, "batch_size", positive=True)
        check_scalar(self, "start")
        check_int(self, "dim", 1)
        if self.eigenvalues is None:
            h = 1.0 / np.arange(1, self.dim + 1, dtype=np.float64)
            object.__setattr__(self, "eigenvalues", h)
            return
        h = check_vector(self, "eigenvalues")
        if h is None:
            return
        if np.any(h <= 0):
            raise ValueError(f"NoisyQuadratic: field `eigenvalues` must be > 0 everywhere "
                             f"(the noise has variance 1/(B h)), got {self.eigenvalues!r}")
        object.__setattr__(self, "eigenvalues", h)
        object.__setattr__(self, "dim", int(h.size))

    def loss(self, params: jax.Array) -> jax.Array:
        return 0.5 * sum_small(self.eigenvalues * params * params)

    @property
    def minimum(self) -> float:
        return 0.0

    def minimizer(self) -> np.ndarray:
        """The origin (of the full loss)."""
        return np.zeros(self.dim)

    def sample(self, state: jax.Array, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        noise = jax.random.normal(jax.random.fold_in(state, step), (self.dim,),
                                  float_dtype(self.batch_size))
        return noise, state

    def batch_loss(self, params: jax.Array, batch: jax.Array) -> jax.Array:
        h = self.eigenvalues
        centre = batch.astype(params.dtype) / jnp.sqrt(self.batch_size * h)
        offset = params - centre
        return 0.5 * sum_small(h * offset * offset)
