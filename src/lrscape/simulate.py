"""One trajectory as a pure function, and the compiled program that runs a chunk of them.

:func:`run_trajectory` runs one optimizer from one starting point for ``steps`` updates as two
nested ``lax.scan`` loops (records every ``record_every`` steps), carrying only the state and the
:class:`~lrscape.record.Tracker`. :func:`compiled_chunk` vmaps it over a flat batch of grid
points; the program depends only on a hashable :class:`Spec`, so every chunk of every grid with
the same shapes reuses one compilation: hyperparameter values, landscape fields and schedule
fields all arrive as traced arguments.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import curvature, record
from .landscapes import Landscape
from .regimes import Regime, Thresholds
from .schedules import Schedule


class Spec(NamedTuple):
    """Everything that shapes the compiled program (hashable; values are traced elsewhere)."""

    factory: Any  # the optax factory
    options: tuple[tuple[str, Any], ...]  # static optimizer options
    optimizer_axes: tuple[str, ...]  # swept hyperparameters (field names)
    landscape_axes: tuple[tuple[str, str], ...]  # (batch key, field)
    schedule_axes: tuple[tuple[str, str], ...]
    steps: int
    record_every: int
    thresholds: Thresholds
    dtype: str
    curvature_every: int | None = None  # steps between sharpness measurements
    curvature_iters: int = 20  # Lanczos steps per measurement (warm-started)
    curvature_k: int = 1  # how many top eigenvalues to record
    lyapunov: bool = False  # propagate a tangent vector for the largest Lyapunov exponent
    keep_tail: bool = False  # return the ring buffer: the run's last 2 * max_period steps


def _cast(tree: Any, dtype: Any) -> Any:
    """Floating leaves (and Python numbers) to ``dtype``; integer arrays stay as they are."""

    def cast(x: Any) -> Any:
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def _select(alive: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, old)


def _tangent_zeros(tree: Any) -> Any:
    """Zero tangents for ``tree``: float0 for integer leaves (counts), zeros otherwise."""

    def zero(x: Any) -> Any:
        if jnp.issubdtype(jnp.result_type(x), jnp.floating):
            return jnp.zeros_like(x)
        return np.zeros(np.shape(x), dtype=jax.dtypes.float0)

    return jax.tree.map(zero, tree)


def _float_leaves(tree: Any) -> list[jax.Array]:
    return [x for x in jax.tree.leaves(tree)
            if getattr(x, "dtype", None) is not None and jnp.issubdtype(x.dtype, jnp.floating)]


def _top_eigenpair(
    landscape: Landscape, params: Any, iters: int, k: int, init: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """The Hessian's ``k`` top eigenvalues and top eigenvector, Lanczos warm-started."""
    pair = curvature.lanczos_ritz(landscape.loss, params, k=k, iters=iters, init=init)
    return pair.value, pair.vector


def run_trajectory(
    spec: Spec,
    landscape: Landscape,
    schedule: Schedule | None,
    hyperparams: dict[str, jax.Array],
    x0: Any,
    swept: dict[str, jax.Array],
    seed: jax.Array,
) -> tuple[dict[str, jax.Array], dict[str, jax.Array], dict[str, jax.Array]]:
    """Run one trajectory.

    Returns three dicts of outputs: per trajectory (the :class:`~lrscape.record.Summary` and,
    if asked, ``lyapunov``), per record window (``loss_last``, ``loss_mean``), and per
    curvature measurement (``sharpness``, ``eigvec_overlap``; at step 0 and every
    ``curvature_every`` steps), the last empty unless asked.
    """
    dtype = jnp.dtype(spec.dtype)
    landscape = landscape.replace(**{f: swept[k] for k, f in spec.landscape_axes})
    if schedule is not None and spec.schedule_axes:
        schedule = schedule.replace(**{f: swept[k] for k, f in spec.schedule_axes})
    hyper = dict(hyperparams)
    hyper.update({name: swept[name] for name in spec.optimizer_axes})
    tx = optax.inject_hyperparams(spec.factory, static_args=tuple(k for k, _ in spec.options))(
        **hyper, **dict(spec.options)
    )

    params = landscape.init(jax.random.key(seed)) if x0 is None else x0
    params = _cast(params, dtype)
    opt_state = tx.init(params)
    value_and_grad = jax.value_and_grad(landscape.loss)
    steps, every = spec.steps, spec.record_every

    def scaled_update(params: Any, opt_state: Any, t: jax.Array) -> tuple[Any, Any, Any]:
        loss, grads = value_and_grad(params)
        updates, new_state = tx.update(grads, opt_state, params)
        if schedule is not None:
            factor = schedule(t).astype(dtype)
            updates = jax.tree.map(lambda u: u * factor, updates)
        return loss, updates, new_state

    def advance(params: Any, opt_state: Any, t: jax.Array) -> tuple[Any, Any, Any]:
        """The optimizer's map (params, state) -> (params, state); loss and update as aux."""
        loss, updates, new_state = scaled_update(params, opt_state, t)
        return (optax.apply_updates(params, updates), new_state), (loss, updates)

    loss0, first_update, _ = scaled_update(params, opt_state, jnp.zeros((), jnp.int32))
    tracker = record.start(loss0, first_update, params, spec.thresholds)
    direction = record.projection_direction(params, dtype)

    extras: dict[str, Any] = {}
    if spec.lyapunov:
        tangent = (record.projection_direction(params, dtype), _tangent_zeros(opt_state))
        extras["tangent"] = tangent
        extras["log_growth"] = jnp.zeros((), dtype)
    curvature_out: dict[str, list] = {}
    if spec.curvature_every:
        values, vector = _top_eigenpair(landscape, params, spec.curvature_iters,
                                        spec.curvature_k, None)
        extras["eigvec"] = vector
        curvature_out = {"sharpness": [values[0]],
                         "eigvec_overlap": [jnp.full((), jnp.nan, dtype)]}
        if spec.curvature_k > 1:
            curvature_out["top_eigenvalues"] = [values]

    def step(carry: Any, t: jax.Array, with_ring: bool) -> tuple[Any, None]:
        params, opt_state, tracker, extras = carry
        if spec.lyapunov:
            (new_params, new_state), (d_params, d_state), (loss, updates) = jax.jvp(
                lambda p, s: advance(p, s, t), (params, opt_state), extras["tangent"],
                has_aux=True,
            )
            norm = jnp.sqrt(sum(jnp.vdot(x, x) for x in _float_leaves((d_params, d_state))))
            safe = jnp.maximum(norm, jnp.finfo(dtype).tiny)
            tangent = jax.tree.map(
                lambda d: d / safe if jnp.issubdtype(d.dtype, jnp.floating) else d,
                (d_params, d_state))
        else:
            loss, updates, new_state = scaled_update(params, opt_state, t)
            new_params = optax.apply_updates(params, updates)
        tracker, alive = record.observe(
            tracker, t, loss, updates, params, direction=direction if with_ring else None
        )
        # A diverged trajectory keeps its parameters; its optimizer state is never read again.
        params = _select(alive, new_params, params)
        if spec.lyapunov:
            extras = dict(extras, tangent=tangent,
                          log_growth=extras["log_growth"] + jnp.where(alive, jnp.log(safe), 0.0))
        return (params, new_state, tracker, extras), None

    def window(carry: Any, w: jax.Array, with_ring: bool) -> tuple[Any, record.Record]:
        ts = w * every + jnp.arange(every, dtype=jnp.int32)
        carry, _ = jax.lax.scan(functools.partial(step, with_ring=with_ring), carry, ts)
        params, opt_state, tracker, extras = carry
        tracker, rec = record.close_window(tracker, w, steps, every)
        return (params, opt_state, tracker, extras), rec

    per_block = spec.curvature_every // every if spec.curvature_every else 1

    def block(carry: Any, b: jax.Array, with_ring: bool) -> tuple[Any, Any]:
        windows = b * per_block + jnp.arange(per_block, dtype=jnp.int32)
        carry, recs = jax.lax.scan(functools.partial(window, with_ring=with_ring), carry, windows)
        if not spec.curvature_every:
            return carry, (recs, {})
        params, opt_state, tracker, extras = carry
        values, vector = _top_eigenpair(landscape, params, spec.curvature_iters,
                                        spec.curvature_k, extras["eigvec"])
        overlap = jnp.abs(jnp.vdot(vector, extras["eigvec"]))
        alive = ~tracker.diverged
        measured = {"sharpness": jnp.where(alive, values[0], jnp.nan),
                    "eigvec_overlap": jnp.where(alive, overlap, jnp.nan)}
        if spec.curvature_k > 1:
            measured["top_eigenvalues"] = jnp.where(alive, values, jnp.nan)
        return (params, opt_state, tracker, dict(extras, eigvec=vector)), (recs, measured)

    n_blocks = steps // (every * per_block)
    # Only the last 2 * max_period steps feed the ring buffer: the blocks before them skip it.
    tail = min(n_blocks, math.ceil(spec.thresholds.buffer_size / (every * per_block)))
    carry = (params, opt_state, tracker, extras)
    blocks = jnp.arange(n_blocks, dtype=jnp.int32)
    carry, head = jax.lax.scan(functools.partial(block, with_ring=False), carry,
                               blocks[: n_blocks - tail])
    carry, tail_out = jax.lax.scan(functools.partial(block, with_ring=True), carry,
                                   blocks[n_blocks - tail:])
    (head_records, head_curv), (tail_records, tail_curv) = head, tail_out
    records = jax.tree.map(lambda a, b: jnp.concatenate([a, b]).reshape(-1), head_records,
                           tail_records)
    params, _, tracker, extras = carry
    final_loss = landscape.loss(params)
    summary = record.summarise(tracker, final_loss, steps, spec.thresholds)._asdict()
    tail = summary.pop("tail")
    if spec.keep_tail:
        summary["tail_loss"], summary["tail_projection"] = tail[:, 0], tail[:, 1]
    if spec.lyapunov:
        alive_steps = jnp.maximum(tracker.alive_steps, 1.0)
        summary["lyapunov"] = jnp.where(summary["regime"] == Regime.DIVERGED, jnp.nan,
                                        extras["log_growth"] / alive_steps)
    series = {name: jnp.concatenate([jnp.stack(first), head_curv[name], tail_curv[name]])
              for name, first in curvature_out.items()}
    return summary, records._asdict(), series


@functools.lru_cache(maxsize=64)
def compiled_chunk(spec: Spec) -> Any:
    """The jitted, vmapped program for one chunk of trajectories (built once per ``Spec``)."""

    def chunk(landscape, schedule, hyperparams, x0, swept, seeds):  # noqa: ANN001, ANN202
        run = functools.partial(run_trajectory, spec, landscape, schedule, hyperparams, x0)
        return jax.vmap(run)(swept, seeds)

    return jax.jit(chunk)
