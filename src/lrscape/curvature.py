r"""Curvature along trajectories: Hessian-vector products, sharpness, eigenvectors.

Everything here takes a scalar ``loss`` function and parameters (an array or a pytree), needs
only Hessian-vector products :math:`Hv`, computed forward-over-reverse
(:func:`jax.jvp` of :func:`jax.grad`, about the cost of two gradients), and is pure, so it
``jit``\ s and ``vmap``\ s across trajectories.

- :func:`hvp` — :math:`Hv`.
- :func:`power_iteration` — the top eigenpair (largest :math:`|\lambda|`) in a fixed number of
  products; warm-started from the previous eigenvector when tracking along a trajectory.
- :func:`lanczos` — the top ``k`` eigenpairs from a Krylov space with full
  re-orthogonalisation.
- :func:`hessian_eigenvalues` — the exact spectrum (``eigvalsh`` of the dense Hessian), for small
  dimensions and for checking the others.
- :func:`preconditioned_sharpness` — :math:`\lambda_1(P^{-1} H)` for a diagonal preconditioner
  :math:`P`, the quantity whose edge of stability adaptive methods sit at;
  :func:`adam_preconditioner` reads :math:`P` off an optax Adam state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

Params = Any
Loss = Callable[[Params], jax.Array]


def hvp(loss: Loss, params: Params, vector: Params) -> Params:
    """The Hessian of ``loss`` at ``params`` times ``vector`` (forward-over-reverse)."""
    return jax.jvp(jax.grad(loss), (params,), (vector,))[1]


def _flat(loss: Loss, params: Params) -> tuple[jax.Array, Callable[[jax.Array], jax.Array]]:
    """Flatten ``params``; return the flat point and the flat Hessian-vector product."""
    flat, unravel = ravel_pytree(params)

    def flat_loss(x: jax.Array) -> jax.Array:
        return loss(unravel(x))

    def product(v: jax.Array) -> jax.Array:
        return jax.jvp(jax.grad(flat_loss), (flat,), (v,))[1]

    return flat, product


class Eigenpair(NamedTuple):
    value: jax.Array
    vector: jax.Array  # flat, unit norm


def _start_vector(size: int, dtype: Any, init: jax.Array | None) -> jax.Array:
    if init is not None:
        v = jnp.asarray(init, dtype)
    else:  # a fixed start, the same for every trajectory and call
        v = jax.random.normal(jax.random.key(7), (size,), dtype)
    return v / jnp.linalg.norm(v)


def power_iteration(
    loss: Loss, params: Params, *, iters: int = 20, init: jax.Array | None = None
) -> Eigenpair:
    r"""The Hessian's eigenpair of largest magnitude, by ``iters`` Hessian-vector products.

    Returns the Rayleigh quotient :math:`v^\top H v` of the last iterate and the (flat, unit)
    vector. Convergence is geometric in :math:`|\lambda_2/\lambda_1|`; pass the previous
    eigenvector as ``init`` to track it along a trajectory in few iterations. For the top
    *algebraic* eigenvalue (sharpness) this is exact when it dominates in magnitude, as at and
    near minima; :func:`lanczos` gives the ordered spectrum's top when it does not.
    """
    flat, product = _flat(loss, params)
    v = _start_vector(flat.size, flat.dtype, init)

    def body(_: int, v: jax.Array) -> jax.Array:
        w = product(v)
        norm = jnp.linalg.norm(w)
        return jnp.where(norm > 0, w / jnp.where(norm > 0, norm, 1.0), v)

    v = jax.lax.fori_loop(0, iters, body, v)
    return Eigenpair(jnp.vdot(v, product(v)), v)


def lanczos(
    loss: Loss, params: Params, *, k: int = 1, iters: int = 20, init: jax.Array | None = None
) -> Eigenpair:
    """The ``k`` largest (algebraic) Hessian eigenpairs from ``iters`` Lanczos steps.

    Full re-orthogonalisation against the Krylov basis keeps the Ritz values honest at these
    small sizes. ``iters`` is capped at the dimension. Returns values in descending order and
    the flat vectors as columns.
    """
    flat, product = _flat(loss, params)
    size = flat.size
    m = min(iters, size)
    if not 1 <= k <= m:
        raise ValueError(f"lanczos: `k` must be in [1, min(iters, dim)] = [1, {m}], got {k!r}")
    v0 = _start_vector(size, flat.dtype, init)
    basis = jnp.zeros((m, size), flat.dtype).at[0].set(v0)
    alphas = jnp.zeros((m,), flat.dtype)
    betas = jnp.zeros((m,), flat.dtype)

    def body(j: int, state: tuple) -> tuple:
        basis, alphas, betas = state
        w = product(basis[j])
        alpha = jnp.vdot(basis[j], w)
        # Full re-orthogonalisation (twice, for stability) against the filled part of the basis.
        mask = (jnp.arange(m) <= j)[:, None]
        for _ in range(2):
            w = w - (basis * mask).T @ ((basis * mask) @ w)
        beta = jnp.linalg.norm(w)
        safe = jnp.where(beta > 1e-30, beta, 1.0)
        nxt = jnp.where(beta > 1e-30, w / safe, 0.0)
        basis = jnp.where(j + 1 < m, basis.at[jnp.minimum(j + 1, m - 1)].set(nxt), basis)
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta)

    basis, alphas, betas = jax.lax.fori_loop(0, m, body, (basis, alphas, betas))
    tridiagonal = jnp.diag(alphas) + jnp.diag(betas[:-1], 1) + jnp.diag(betas[:-1], -1)
    values, vectors = jnp.linalg.eigh(tridiagonal)
    order = jnp.argsort(values)[::-1][:k]
    return Eigenpair(values[order], basis.T @ vectors[:, order])


def hessian_eigenvalues(loss: Loss, params: Params) -> jax.Array:
    """The exact Hessian spectrum, descending (dense: for small dimensions)."""
    flat, unravel = ravel_pytree(params)
    hess = jax.hessian(lambda x: loss(unravel(x)))(flat)
    return jnp.linalg.eigvalsh(hess)[::-1]


def preconditioned_sharpness(
    loss: Loss, params: Params, preconditioner: Params, *, iters: int = 20
) -> jax.Array:
    r""":math:`\lambda_1(P^{-1}H)` for a positive diagonal preconditioner :math:`P`.

    Computed as the top eigenvalue of the symmetric :math:`P^{-1/2} H P^{-1/2}` by power
    iteration. ``preconditioner`` has the structure of ``params`` (e.g.
    :func:`adam_preconditioner`).
    """
    flat, product = _flat(loss, params)
    p, _ = ravel_pytree(preconditioner)
    scale = 1.0 / jnp.sqrt(p)

    def body(_: int, v: jax.Array) -> jax.Array:
        w = scale * product(scale * v)
        return w / jnp.maximum(jnp.linalg.norm(w), 1e-30)

    v = jax.lax.fori_loop(0, iters, body, _start_vector(flat.size, flat.dtype, None))
    return jnp.vdot(v, scale * product(scale * v))


def adam_preconditioner(opt_state: Any, *, b2: float, eps: float = 1e-8) -> Params:
    r"""Adam's diagonal preconditioner :math:`P = \sqrt{\hat\nu} + \epsilon` from an optax state.

    Finds the ``nu`` (second moment) and ``count`` of the first ``ScaleByAdamState`` in
    ``opt_state`` and applies the bias correction :math:`\hat\nu = \nu / (1 - \beta_2^t)`.
    """
    leaves = jax.tree.leaves(opt_state, is_leaf=lambda x: hasattr(x, "nu") and hasattr(x, "mu"))
    adam = next((x for x in leaves if hasattr(x, "nu") and hasattr(x, "mu")), None)
    if adam is None:
        raise ValueError("adam_preconditioner: no Adam state (with `mu` and `nu`) in opt_state")
    correction = 1.0 - b2 ** jnp.maximum(adam.count, 1)
    return jax.tree.map(lambda nu: jnp.sqrt(nu / correction) + eps, adam.nu)
