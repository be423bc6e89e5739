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

from . import curvature, layout, record
from .landscapes import Landscape, StochasticLandscape
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
    gradient_noise: bool = False  # add N(0, sigma^2 I) to every gradient (sigma is swept)
    trainability: bool = False  # the trainability score of Sohl-Dickstein (2024)
    elementwise: bool = False  # the optimizer treats every coordinate alike (``layout``)
    one_loop: bool = False  # CPU layout (``layout``); set by ``ChunkJob.spec_for`` per device set


#: What is logged at the end of every epoch of a finite-sum landscape, in this order.
EPOCH_RECORDS = ("epoch_loss_mean", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def _cast(tree: Any, dtype: Any) -> Any:
    """Floating leaves (and Python numbers) to ``dtype``; integer arrays stay as they are."""

    def cast(x: Any) -> Any:
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def _present(outputs: NamedTuple) -> dict[str, jax.Array]:
    """The fields of ``outputs`` that this run computes (those not ``None``), by name."""
    return {name: value for name, value in outputs._asdict().items() if value is not None}


def _identity(x: Any) -> Any:
    return x


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


def _optimizer(
    spec: Spec, landscape: Landscape, params: Any, fixed: dict[str, jax.Array],
    swept: dict[str, jax.Array],
) -> optax.GradientTransformation:
    """The optimizer with its fixed and swept hyperparameters injected as arrays.

    With per-group axes (``"learning_rate@input"``), one optimizer per parameter group, each
    with the group's own values where it has them and the shared ones elsewhere, joined by
    ``optax.partition`` over the landscape's ``parameter_groups``.
    """
    make = optax.inject_hyperparams(spec.factory, static_args=tuple(k for k, _ in spec.options))
    shared, per_group = dict(fixed), {}
    for name in spec.optimizer_axes:
        field, _, group = name.partition("@")
        if group:
            per_group.setdefault(group, {})[field] = swept[name]
        else:
            shared[field] = swept[name]
    if not per_group:
        return make(**shared, **dict(spec.options))
    labels = landscape.parameter_groups(params)
    groups = dict.fromkeys(jax.tree.leaves(labels))
    return optax.partition(
        {g: make(**{**shared, **per_group.get(g, {})}, **dict(spec.options)) for g in groups},
        labels)


def run_trajectory(
    spec: Spec,
    landscape: Landscape,
    schedule: Schedule | None,
    hyperparams: dict[str, jax.Array],
    x0: Any,
    swept: dict[str, jax.Array],
    seed: jax.Array,
) -> tuple[dict[str, jax.Array], ...]:
    """Run one trajectory.

    Returns four dicts of outputs: per trajectory (the :class:`~lrscape.record.Summary` and,
    if asked, ``lyapunov``), per record window (``loss_last``, ``loss_mean``; with noisy
    gradients also ``loss_min`` and ``loss_max``; on a stochastic landscape also
    ``loss_full``), per curvature measurement
    (``sharpness``, ``eigvec_overlap``; at step 0 and every ``curvature_every`` steps), and
    per epoch of a finite-sum landscape (``epoch_loss_mean``, ``train_loss``,
    ``train_accuracy``, ``val_loss``, ``val_accuracy``), the last two empty unless asked.

    On a :class:`~lrscape.landscapes.StochasticLandscape` the loss the tracker sees at each
    step is the minibatch loss, as a training loop logs it; ``final_loss`` and ``loss_full``
    are the full loss.
    """
    dtype = jnp.dtype(spec.dtype)
    landscape = landscape.replace(**{f: swept[k] for k, f in spec.landscape_axes}).prepare()
    stochastic = isinstance(landscape, StochasticLandscape)
    per_epoch = landscape.steps_per_epoch if stochastic else None
    if schedule is not None and spec.schedule_axes:
        schedule = schedule.replace(**{f: swept[k] for k, f in spec.schedule_axes})
    key = jax.random.key(seed)
    params = landscape.init(key) if x0 is None else x0
    params = _cast(params, dtype)
    columns = spec.one_loop and layout.use_columns(
        params, elementwise=spec.elementwise, stochastic=stochastic,
        per_group=any("@" in name for name in spec.optimizer_axes))
    if columns:  # a tuple of scalars in the carry; the landscape sees them stacked
        params = tuple(params)
    whole = jnp.stack if columns else _identity
    split = tuple if columns else _identity
    tx = _optimizer(spec, landscape, params, hyperparams, swept)
    opt_state = tx.init(params)
    steps, every = spec.steps, spec.record_every
    noise_key = jax.random.fold_in(key, 2)

    def draw(sampler: Any, t: jax.Array) -> tuple[Any, Any]:
        """The randomness of update ``t``: the minibatch and the added gradient noise."""
        batch = None
        if stochastic:
            batch, sampler = landscape.sample(sampler, t)
        noise = None
        if spec.gradient_noise:
            leaves, treedef = jax.tree.flatten(whole(params))
            keys = jax.random.split(jax.random.fold_in(noise_key, t), len(leaves))
            noise = split(jax.tree.unflatten(treedef, [
                swept["gradient_noise"].astype(dtype) * jax.random.normal(k, x.shape, dtype)
                for k, x in zip(keys, leaves, strict=True)]))
        return (batch, noise), sampler

    def loss_and_grad(params: Any, draws: Any) -> tuple[jax.Array, Any]:
        batch, noise = draws
        if stochastic:
            loss, grads = jax.value_and_grad(landscape.batch_loss)(params, batch)
        elif columns:
            loss, grads = layout.value_and_grad_columns(landscape.loss, params)
        else:
            loss, grads = jax.value_and_grad(landscape.loss)(params)
        if noise is not None:
            grads = jax.tree.map(jnp.add, grads, noise)
        return loss, grads

    def scaled_update(
        params: Any, opt_state: Any, t: jax.Array, draws: Any
    ) -> tuple[Any, Any, Any]:
        loss, grads = loss_and_grad(params, draws)
        updates, new_state = tx.update(grads, opt_state, params)
        if schedule is not None:
            factor = schedule(t).astype(dtype)
            updates = jax.tree.map(lambda u: u * factor, updates)
        return loss, updates, new_state

    def advance(params: Any, opt_state: Any, t: jax.Array, draws: Any) -> tuple[Any, Any]:
        """The optimizer's map (params, state) -> (params, state); loss and update as aux."""
        loss, updates, new_state = scaled_update(params, opt_state, t, draws)
        return (optax.apply_updates(params, updates), new_state), (loss, updates)

    extras: dict[str, Any] = {}
    if stochastic:
        extras["sampler"] = landscape.sampler(jax.random.fold_in(key, 1))
    zero_step = jnp.zeros((), jnp.int32)
    first_draws, _ = draw(extras.get("sampler"), zero_step)
    loss0, first_update, _ = scaled_update(params, opt_state, zero_step, first_draws)
    noisy = stochastic or spec.gradient_noise
    tracker = record.start(loss0, first_update, params, spec.thresholds, noisy=noisy,
                           score=spec.trainability)
    direction = split(record.projection_direction(whole(params), dtype))

    n_epochs = steps // per_epoch if per_epoch else 0
    if n_epochs:
        extras["epoch_sum"] = jnp.zeros((), dtype)
        extras["epoch_table"] = jnp.full((n_epochs, len(EPOCH_RECORDS)), jnp.nan, dtype)
    if spec.lyapunov:
        tangent = (direction, _tangent_zeros(opt_state))
        extras["tangent"] = tangent
        extras["log_growth"] = jnp.zeros((), dtype)
    curvature_out: dict[str, list] = {}
    if spec.curvature_every:
        values, vector = _top_eigenpair(landscape, whole(params), spec.curvature_iters,
                                        spec.curvature_k, None)
        extras["eigvec"] = vector
        curvature_out = {"sharpness": [values[0]],
                         "eigvec_overlap": [jnp.full((), jnp.nan, dtype)]}
        if spec.curvature_k > 1:
            curvature_out["top_eigenvalues"] = [values]

    def step(carry: Any, t: jax.Array, with_ring: bool) -> tuple[Any, None]:
        params, opt_state, tracker, extras = carry
        draws, sampler = draw(extras.get("sampler"), t)
        if stochastic:
            extras = dict(extras, sampler=sampler)
        if spec.lyapunov:
            (new_params, new_state), (d_params, d_state), (loss, updates) = jax.jvp(
                lambda p, s: advance(p, s, t, draws), (params, opt_state), extras["tangent"],
                has_aux=True,
            )
            norm = jnp.sqrt(sum(jnp.vdot(x, x) for x in _float_leaves((d_params, d_state))))
            safe = jnp.maximum(norm, jnp.finfo(dtype).tiny)
            tangent = jax.tree.map(
                lambda d: d / safe if jnp.issubdtype(d.dtype, jnp.floating) else d,
                (d_params, d_state))
        else:
            loss, updates, new_state = scaled_update(params, opt_state, t, draws)
            new_params = optax.apply_updates(params, updates)
        tracker, alive = record.observe(
            tracker, t, loss, updates, params, direction=direction if with_ring else None
        )
        # A diverged trajectory keeps its parameters; its optimizer state is never read again.
        params = _select(alive, new_params, params)
        if spec.lyapunov:
            extras = dict(extras, tangent=tangent,
                          log_growth=extras["log_growth"] + jnp.where(alive, jnp.log(safe), 0.0))
        if n_epochs:
            extras = _epoch_step(extras, t, loss, alive, params)
        new_carry = (params, new_state, tracker, extras)
        if spec.one_loop:
            new_carry = layout.write_in_one_loop(new_carry, carry)
        return new_carry, None

    def _epoch_step(extras: dict[str, Any], t: jax.Array, loss: jax.Array, alive: jax.Array,
                    params: Any) -> dict[str, Any]:
        """Add the minibatch loss to the epoch's sum; at the epoch's end, evaluate and log."""
        extras = dict(extras, epoch_sum=extras["epoch_sum"] + jnp.where(alive, loss, 0.0))

        def close(extras: dict[str, Any]) -> dict[str, Any]:
            metrics = landscape.metrics(params)
            row = jnp.stack([extras["epoch_sum"] / per_epoch]
                            + [metrics[name] for name in EPOCH_RECORDS[1:]]).astype(dtype)
            row = jnp.where(alive, row, jnp.nan)
            table = jax.lax.dynamic_update_index_in_dim(
                extras["epoch_table"], row, (t + 1) // per_epoch - 1, axis=0)
            return dict(extras, epoch_sum=jnp.zeros_like(extras["epoch_sum"]), epoch_table=table)

        # ``t`` is the same for every trajectory, so under vmap this stays a branch.
        return jax.lax.cond((t + 1) % per_epoch == 0, close, lambda e: e, extras)

    def window(carry: Any, w: jax.Array, with_ring: bool) -> tuple[Any, record.Record]:
        ts = w * every + jnp.arange(every, dtype=jnp.int32)
        # With one loop per step, two steps per iteration let XLA write each step's outputs
        # straight into the other's buffers instead of copying them back into the carry.
        carry, _ = jax.lax.scan(functools.partial(step, with_ring=with_ring), carry, ts,
                                unroll=2 if spec.one_loop else 1)
        params, opt_state, tracker, extras = carry
        tracker, rec = record.close_window(tracker, w, steps, every)
        rec = _present(rec)
        if stochastic:
            rec["loss_full"] = jnp.where(tracker.diverged, jnp.nan, landscape.loss(params))
        return (params, opt_state, tracker, extras), rec

    per_block = spec.curvature_every // every if spec.curvature_every else 1

    def block(carry: Any, b: jax.Array, with_ring: bool) -> tuple[Any, Any]:
        windows = b * per_block + jnp.arange(per_block, dtype=jnp.int32)
        carry, recs = jax.lax.scan(functools.partial(window, with_ring=with_ring), carry, windows)
        if not spec.curvature_every:
            return carry, (recs, {})
        params, opt_state, tracker, extras = carry
        values, vector = _top_eigenpair(landscape, whole(params), spec.curvature_iters,
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
    final_loss = landscape.loss(whole(params))
    summary = _present(record.summarise(tracker, final_loss, steps, every, spec.thresholds))
    tail = summary.pop("tail")
    if spec.keep_tail:
        summary["tail_loss"], summary["tail_projection"] = tail[:, 0], tail[:, 1]
    if spec.lyapunov:
        alive_steps = jnp.maximum(tracker.alive_steps, 1.0)
        summary["lyapunov"] = jnp.where(summary["regime"] == Regime.DIVERGED, jnp.nan,
                                        extras["log_growth"] / alive_steps)
    series = {name: jnp.concatenate([jnp.stack(first), head_curv[name], tail_curv[name]])
              for name, first in curvature_out.items()}
    epochs = {}
    if n_epochs:
        epochs = {name: extras["epoch_table"][:, i] for i, name in enumerate(EPOCH_RECORDS)}
    return summary, records, series, epochs


@functools.lru_cache(maxsize=64)
def compiled_chunk(spec: Spec) -> Any:
    """The jitted, vmapped program for one chunk of trajectories (built once per ``Spec``)."""

    def chunk(landscape, schedule, hyperparams, x0, swept, seeds):  # noqa: ANN001, ANN202
        run = functools.partial(run_trajectory, spec, landscape, schedule, hyperparams, x0)
        return jax.vmap(run)(swept, seeds)

    return jax.jit(chunk)
