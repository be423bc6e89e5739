"""How one step's state is laid out for XLA's CPU backend, without changing what it computes.

Under ``vmap`` every per-trajectory value becomes an array over the batch, and XLA's CPU backend
gives each array a step writes its own loop over that batch: it does not fuse sibling outputs.
A step that updates the parameters, the optimizer state and a dozen tracker scalars therefore
runs a dozen loops, each reading the state again. Two rewrites cut that down:

- :func:`use_columns`: a small parameter vector is carried as a tuple of scalars, one per
  coordinate, so that every array is ``(batch,)`` (loops over ``(batch, d)`` arrays with a
  per-trajectory mask are not vectorised), and its gradient is taken with the loss replayed on
  the columns (:func:`value_and_grad_columns`), which never forms a ``(batch, d)`` cotangent;
- :func:`write_in_one_loop`: the step's scalar outputs are produced by one multi-output
  reduction, the one fusion XLA's CPU backend emits as a single loop with several outputs.

Both compute the same operations on the same numbers; only the loops XLA emits change (the
gradient's additions may round differently from a reverse pass over the stacked vector). On
the 2-D valley benchmark (``benchmarks/throughput.py``) they take the sweep from about 0.30 to
about 0.45 G trajectory-steps per second on two CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.extend.core as jax_core
import jax.numpy as jnp

#: Parameter vectors with at most this many coordinates are carried as scalars.
MAX_COLUMNS = 8


def use_columns(params: Any, *, elementwise: bool, stochastic: bool, per_group: bool) -> bool:
    """Whether to carry ``params`` as a tuple of scalars, one per coordinate.

    Only for a single vector of at most :data:`MAX_COLUMNS` coordinates on a deterministic
    landscape, with an optimizer that treats every coordinate alike (``elementwise``: one that
    takes a norm per parameter array would see scalars instead) and without per-group
    hyperparameters (whose labels follow the landscape's own parameter structure).
    """
    return (elementwise and not stochastic and not per_group
            and isinstance(params, jax.Array) and params.ndim == 1
            and 1 <= params.shape[0] <= MAX_COLUMNS)


class _Stacked(NamedTuple):
    """A vector that is the stack of ``columns``, not yet built (see :func:`_on_columns`)."""

    columns: tuple[jax.Array, ...]

    def build(self) -> jax.Array:
        return jnp.stack(self.columns)


def _on_columns(loss: Callable[[jax.Array], jax.Array],
                columns: tuple[jax.Array, ...]) -> jax.Array:
    """``loss(jnp.stack(columns))``, with the loss's slices of its argument taken from the
    columns themselves.

    The loss is traced once at the stacked shape, and its operations are replayed with the
    argument kept as its columns for as long as they only slice it (``x[..., 0]``,
    ``x[..., 1:]``) or act on each coordinate alone (``walls * walls``): a slice is then a
    sub-tuple, a squeezed single coordinate is the column, an elementwise operation is applied
    column by column. Any other use (a sum, a matrix product) builds the stacked vector. Every
    operation is the loss's own, on the same numbers; what changes is the gradient's reverse
    pass, which no longer pads each slice's cotangent back to a ``(batch, d)`` array and adds
    them up.
    """
    closed = jax.make_jaxpr(loss)(jnp.stack(columns))
    env: dict[Any, Any] = dict(zip(closed.jaxpr.constvars, closed.consts, strict=True))
    env[closed.jaxpr.invars[0]] = _Stacked(tuple(columns))

    def read(var: Any) -> Any:
        return var.val if isinstance(var, jax_core.Literal) else env[var]

    for eqn in closed.jaxpr.eqns:
        args = [read(v) for v in eqn.invars]
        out = _replay_on_columns(eqn, args)
        if out is None:
            args = [a.build() if isinstance(a, _Stacked) else a for a in args]
            out = eqn.primitive.bind(*args, **eqn.params)
            if not eqn.primitive.multiple_results:
                out = [out]
        else:
            out = [out]
        for var, value in zip(eqn.outvars, out, strict=True):
            env[var] = value
    (result,) = [read(v) for v in closed.jaxpr.outvars]
    return result.build() if isinstance(result, _Stacked) else result


#: Primitives that act on each coordinate alone: replayed column by column.
_ELEMENTWISE = frozenset({
    "abs", "add", "add_any", "atan2", "cos", "div", "exp", "expm1", "integer_pow", "log",
    "log1p", "logistic", "max", "min", "mul", "neg", "pow", "rsqrt", "sign", "sin", "sqrt",
    "square", "sub", "tan", "tanh"})


def _replay_on_columns(eqn: Any, args: list[Any]) -> Any:
    """What ``eqn`` gives, still as columns, when it only slices a :class:`_Stacked` vector or
    acts on each of its coordinates alone; else ``None`` (the caller then builds the vector)."""
    stacked = [a for a in args if isinstance(a, _Stacked)]
    if not stacked:
        return None
    name = eqn.primitive.name
    if name == "slice" and eqn.params["strides"] in (None, (1,)):
        (start,), (stop,) = eqn.params["start_indices"], eqn.params["limit_indices"]
        return _Stacked(args[0].columns[start:stop])
    if name == "squeeze" and len(args[0].columns) == 1:
        return args[0].columns[0]
    size = len(stacked[0].columns)
    if name not in _ELEMENTWISE or any(len(a.columns) != size for a in stacked):
        return None
    if not all(isinstance(a, _Stacked) or jnp.shape(a) in ((), (size,)) for a in args):
        return None

    def column(a: Any, i: int) -> Any:
        if isinstance(a, _Stacked):
            return a.columns[i]
        return a if jnp.shape(a) == () else a[i]

    return _Stacked(tuple(eqn.primitive.bind(*(column(a, i) for a in args), **eqn.params)
                          for i in range(size)))


def value_and_grad_columns(
    loss: Callable[[jax.Array], jax.Array], columns: tuple[jax.Array, ...]
) -> tuple[jax.Array, tuple[jax.Array, ...]]:
    """``loss`` at the stacked ``columns`` and its gradient as one scalar per column.

    Reverse mode through :func:`_on_columns`, so that the gradient of each coordinate the loss
    reads is that coordinate's own scalar: no ``(batch, d)`` array is formed.
    """
    return jax.value_and_grad(lambda cols: _on_columns(loss, cols))(tuple(columns))


def _idempotent(dtype: Any) -> tuple[jax.Array, Callable] | None:
    """An idempotent reduction for ``dtype`` with its identity: ``or`` or ``max``."""
    if dtype == jnp.bool_:
        return jnp.array(False), jnp.logical_or
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.array(-jnp.inf, dtype), jnp.maximum
    if jnp.issubdtype(dtype, jnp.integer):
        return jnp.array(jnp.iinfo(dtype).min, dtype), jnp.maximum
    return None


def write_in_one_loop(new: Any, old: Any) -> Any:
    """``new``, with its changed scalar leaves produced together by one variadic reduction.

    Each such leaf :math:`x` becomes :math:`\\max(x, x) = x` (``or`` for booleans), reduced
    over a broadcast axis of two, so its value is exactly ``new``'s. Leaves passed through
    unchanged (``old``'s own, such as injected hyperparameters) and leaves that are not
    scalars per trajectory (the ring buffer, larger parameter vectors) are left alone: a
    reduction over ``(batch, 2, d)`` is not vectorised. Call it on the whole new carry, as the
    last thing a scan step does.
    """
    leaves, treedef = jax.tree.flatten(new)
    old_leaves = jax.tree.leaves(old)
    candidates = [(i, _idempotent(n.dtype))
                  for i, (n, o) in enumerate(zip(leaves, old_leaves, strict=True))
                  if n is not o and n.shape == ()]
    picked = [i for i, reduction in candidates if reduction is not None]
    reductions = [reduction for _, reduction in candidates if reduction is not None]
    if len(picked) < 2:
        return new

    def combine(a: tuple, b: tuple) -> tuple:
        return tuple(op(x, y) for (_, op), x, y in zip(reductions, a, b, strict=True))

    together = jax.lax.reduce([jnp.broadcast_to(leaves[i], (2,)) for i in picked],
                              [identity for identity, _ in reductions], combine, (0,))
    for i, value in zip(picked, together, strict=True):
        leaves[i] = value
    return jax.tree.unflatten(treedef, leaves)
