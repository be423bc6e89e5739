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


def _lanczos_basis(
    loss: Loss, params: Params, m: int, init: jax.Array | None
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``m`` Lanczos steps with full re-orthogonalisation: basis rows, alphas, betas."""
    flat, product = _flat(loss, params)
    size = flat.size
    v0 = _start_vector(size, flat.dtype, init)
    basis = jnp.zeros((m, size), flat.dtype).at[0].set(v0)
    alphas = jnp.zeros((m,), flat.dtype)
    betas = jnp.zeros((m,), flat.dtype)

    def body(j: int, state: tuple) -> tuple:
        basis, alphas, betas = state
        w = product(basis[j])
        alpha = jnp.vdot(basis[j], w)
        scale = jnp.linalg.norm(w)
        # Full re-orthogonalisation (twice, for stability) against the filled part of the basis.
        mask = (jnp.arange(m) <= j)[:, None]
        for _ in range(2):
            w = w - (basis * mask).T @ ((basis * mask) @ w)
        beta = jnp.linalg.norm(w)
        # Breakdown (an invariant subspace, e.g. a rank-one Hessian): what is left of w is
        # rounding noise, which must not become a basis vector. Later rows stay zero.
        alive = beta > 100 * jnp.finfo(w.dtype).eps * scale
        beta = jnp.where(alive, beta, 0.0)
        nxt = jnp.where(alive, w / jnp.where(alive, beta, 1.0), 0.0)
        basis = jnp.where(j + 1 < m, basis.at[jnp.minimum(j + 1, m - 1)].set(nxt), basis)
        return basis, alphas.at[j].set(alpha), betas.at[j].set(beta)

    return jax.lax.fori_loop(0, m, body, (basis, alphas, betas))


def lanczos_ritz(
    loss: Loss, params: Params, *, k: int = 1, iters: int = 20, init: jax.Array | None = None
) -> Eigenpair:
    """The ``k`` largest Ritz values and the top Ritz vector, without any LAPACK call.

    What :func:`lrscape.sweep` uses to track curvature: ``value`` has the ``k`` values
    (descending; NaN beyond the Krylov dimension), ``vector`` the top one (flat).
    """
    flat, _ = ravel_pytree(params)
    m = min(iters, flat.size)
    if init is not None:
        # A warm start that is exactly an eigenvector spans a one-dimensional Krylov space;
        # a fixed random admixture keeps the lower Ritz values alive.
        init = init / jnp.linalg.norm(init) + 0.3 * _start_vector(flat.size, flat.dtype, None)
    basis, alphas, betas = _lanczos_basis(loss, params, m, init)
    values, y = _tridiagonal_top(alphas, betas[:-1], min(k, m))
    if k > m:
        values = jnp.concatenate([values, jnp.full((k - m,), jnp.nan, values.dtype)])
    return Eigenpair(values, basis.T @ y)


def lanczos(
    loss: Loss, params: Params, *, k: int = 1, iters: int = 20, init: jax.Array | None = None
) -> Eigenpair:
    """The ``k`` largest (algebraic) Hessian eigenpairs from ``iters`` Lanczos steps.

    Full re-orthogonalisation against the Krylov basis keeps the Ritz values honest at these
    small sizes. ``iters`` is capped at the dimension. If the Krylov space closes early (the
    start lies in an invariant subspace, as for a rank-one Hessian), the remaining Ritz values
    are 0, so a negative-definite Hessian reports a top eigenvalue of 0 in that case. Returns
    values in descending order and the flat vectors as columns.
    """
    flat, _ = ravel_pytree(params)
    m = min(iters, flat.size)
    if not 1 <= k <= m:
        raise ValueError(f"lanczos: `k` must be in [1, min(iters, dim)] = [1, {m}], got {k!r}")
    basis, alphas, betas = _lanczos_basis(loss, params, m, init)
    off = betas[:-1]
    if k == 1:
        values, y = _tridiagonal_top(alphas, off)
        return Eigenpair(values, (basis.T @ y)[:, None])
    tridiagonal = jnp.diag(alphas) + jnp.diag(off, 1) + jnp.diag(off, -1)
    values, vectors = jnp.linalg.eigh(tridiagonal)
    order = jnp.argsort(values)[::-1][:k]
    return Eigenpair(values[order], basis.T @ vectors[:, order])


def _tridiagonal_top(
    diag: jax.Array, off: jax.Array, n_values: int = 1
) -> tuple[jax.Array, jax.Array]:
    """Top eigenpair of a symmetric tridiagonal matrix, in plain JAX (no LAPACK call).

    Returns the ``n_values`` largest eigenvalues (descending; ``n_values <= len(diag)``) and
    the top eigenvector. The values by bisection on the Sturm count (the number of eigenvalues
    below ``x`` is the number of negative pivots of the LDL^T factorisation of ``T - x I``),
    inside Gershgorin's bounds; the vector by inverse iteration with the Thomas algorithm. Used
    for sharpness in sweeps, where a batched LAPACK ``syevd`` on several CPU devices at once was
    seen to stall.
    """
    m = diag.shape[0]
    dtype = diag.dtype
    tiny = jnp.finfo(dtype).tiny
    zero = jnp.zeros(1, dtype)
    left = jnp.concatenate([zero, off])  # T[i, i-1]
    right = jnp.concatenate([off, zero])  # T[i, i+1]
    radius = jnp.abs(left) + jnp.abs(right)
    lo, hi = jnp.min(diag - radius), jnp.max(diag + radius)

    def nonzero(x: jax.Array) -> jax.Array:
        return jnp.where(jnp.abs(x) > tiny, x, tiny)

    def count_below(x: jax.Array) -> jax.Array:
        def pivot(carry: tuple, row: tuple) -> tuple:
            q, count = carry
            d, b = row
            q = d - x - b * b / nonzero(q)
            return (q, count + (q < 0)), None

        init = (jnp.ones((), dtype), jnp.zeros((), jnp.int32))
        return jax.lax.scan(pivot, init, (diag, left))[0][1]

    def kth_largest(k: jax.Array) -> jax.Array:
        def bisect(_: int, bounds: tuple) -> tuple:
            lo, hi = bounds
            mid = 0.5 * (lo + hi)
            above = count_below(mid) <= m - k  # the k-th largest eigenvalue lies above mid
            return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

        bounds = jax.lax.fori_loop(0, 2 * jnp.finfo(dtype).nmant + 8, bisect, (lo, hi))
        return 0.5 * (bounds[0] + bounds[1])

    values = jax.vmap(kth_largest)(jnp.arange(1, n_values + 1))
    value = values[0]
    shifted = diag - value - (jnp.abs(value) + 1.0) * 8 * jnp.finfo(dtype).eps

    def solve(rhs: jax.Array) -> jax.Array:
        """(T - value I) y = rhs by the Thomas algorithm."""
        def forward(carry: tuple, row: tuple) -> tuple:
            c_prev, r_prev = carry
            d, b, c, r = row
            denom = nonzero(d - b * c_prev)
            out = (c / denom, (r - b * r_prev) / denom)
            return out, out

        init = (jnp.zeros((), dtype), jnp.zeros((), dtype))
        _, (cs, rs) = jax.lax.scan(forward, init, (shifted, left, right, rhs))

        def backward(x_next: jax.Array, row: tuple) -> tuple:
            c, r = row
            x = r - c * x_next
            return x, x

        return jax.lax.scan(backward, jnp.zeros((), dtype), (cs, rs), reverse=True)[1]

    y = jnp.full((m,), 1.0 / jnp.sqrt(m), dtype)
    for _ in range(3):
        y = solve(y)
        y = y / jnp.maximum(jnp.linalg.norm(y), tiny)
    return values, y


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
