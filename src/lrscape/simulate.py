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
import optax

from . import record
from .landscapes import Landscape
from .regimes import Thresholds
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


def _cast(tree: Any, dtype: Any) -> Any:
    """Floating leaves (and Python numbers) to ``dtype``; integer arrays stay as they are."""

    def cast(x: Any) -> Any:
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def _select(alive: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda n, o: jnp.where(alive, n, o), new, old)


def run_trajectory(
    spec: Spec,
    landscape: Landscape,
    schedule: Schedule | None,
    hyperparams: dict[str, jax.Array],
    x0: Any,
    swept: dict[str, jax.Array],
    seed: jax.Array,
) -> tuple[record.Summary, record.Record]:
    """Run one trajectory; returns its summary and its records (one per window)."""
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

    loss0, first_update, _ = scaled_update(params, opt_state, jnp.zeros((), jnp.int32))
    tracker = record.start(loss0, first_update, params, spec.thresholds)
    direction = record.projection_direction(params, dtype)

    def step(carry: Any, t: jax.Array, with_ring: bool) -> tuple[Any, None]:
        params, opt_state, tracker = carry
        loss, updates, opt_state = scaled_update(params, opt_state, t)
        tracker, alive = record.observe(
            tracker, t, loss, updates, params, direction=direction if with_ring else None
        )
        # A diverged trajectory keeps its parameters; its optimizer state is never read again.
        params = _select(alive, optax.apply_updates(params, updates), params)
        return (params, opt_state, tracker), None

    def window(carry: Any, w: jax.Array, with_ring: bool) -> tuple[Any, record.Record]:
        ts = w * every + jnp.arange(every, dtype=jnp.int32)
        carry, _ = jax.lax.scan(functools.partial(step, with_ring=with_ring), carry, ts)
        params, opt_state, tracker = carry
        tracker, rec = record.close_window(tracker, w, steps, every)
        return (params, opt_state, tracker), rec

    n_windows = steps // every
    # Only the last 2 * max_period steps feed the ring buffer: the windows before them skip it.
    tail = min(n_windows, math.ceil(spec.thresholds.buffer_size / every))
    carry = (params, opt_state, tracker)
    windows = jnp.arange(n_windows, dtype=jnp.int32)
    carry, head_records = jax.lax.scan(
        functools.partial(window, with_ring=False), carry, windows[: n_windows - tail]
    )
    carry, tail_records = jax.lax.scan(
        functools.partial(window, with_ring=True), carry, windows[n_windows - tail:]
    )
    records = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), head_records, tail_records)
    params, _, tracker = carry
    final_loss = landscape.loss(params)
    summary = record.summarise(tracker, final_loss, steps, spec.thresholds)
    return summary, records


@functools.lru_cache(maxsize=64)
def compiled_chunk(spec: Spec) -> Any:
    """The jitted, vmapped program for one chunk of trajectories (built once per ``Spec``)."""

    def chunk(landscape, schedule, hyperparams, x0, swept, seeds):  # noqa: ANN001, ANN202
        run = functools.partial(run_trajectory, spec, landscape, schedule, hyperparams, x0)
        return jax.vmap(run)(swept, seeds)

    return jax.jit(chunk)
