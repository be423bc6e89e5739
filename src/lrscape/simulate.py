"""One trajectory as a pure function, and the compiled program that runs a chunk of them.

:func:`run_trajectory` runs one optimizer from one starting point for ``steps`` updates as
nested ``lax.scan`` loops (records every ``record_every`` steps, curvature every
``curvature_every``), carrying only the state and the :class:`~lrscape.record.Tracker`.
:func:`compiled_chunk` vmaps it over a flat batch of grid points; the program depends only on
a hashable :class:`Spec`, so every chunk of every grid with the same shapes reuses one
compilation: hyperparameter values, landscape fields and schedule fields all arrive as traced
arguments. The device layout (:mod:`lrscape.backend`) is part of the spec and applied
unconditionally.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import backend, curvature, optimizers, paths, record
from ._fields import cast_floats
from .landscapes import Landscape, StochasticLandscape
from .observe import EPOCH_RECORDS, Observe
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
    thresholds: Thresholds
    dtype: str
    observe: Observe = Observe()
    gradient_noise: bool = False  # add N(0, sigma^2 I) to every gradient (sigma is swept)
    noisy: bool = False  # noisy gradients (stochastic landscape or added noise)
    elementwise: bool = False  # the optimizer treats every coordinate alike (``backend``)
    layout: backend.Layout = backend.IDENTITY  # set per device set by ``ChunkJob.spec_for``


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


def _optimizer(
    spec: Spec, landscape: Landscape, params: Any, fixed: dict[str, jax.Array],
    swept: dict[str, jax.Array],
) -> optax.GradientTransformation:
    """The optimizer with its fixed and swept hyperparameters injected as arrays.

    With per-group axes (``"learning_rate@input"``), one optimizer per parameter group, each
    with the group's own values where it has them and the shared ones elsewhere, joined by
    ``optax.partition`` over the landscape's ``parameter_groups``.
    """
    options = dict(spec.options)
    shared, per_group = dict(fixed), {}
    for name in spec.optimizer_axes:
        field, _, group = name.partition("@")
        if group:
            per_group.setdefault(group, {})[field] = swept[name]
        else:
            shared[field] = swept[name]
    if not per_group:
        return optimizers.inject(spec.factory, options, shared)
    labels = landscape.parameter_groups(params)
    groups = dict.fromkeys(jax.tree.leaves(labels))
    return optax.partition(
        {g: optimizers.inject(spec.factory, options, {**shared, **per_group.get(g, {})})
         for g in groups}, labels)


class _Trajectory:
    """One trajectory's set-up and the bodies of its nested scans (traced once per program).

    The scan carry is ``(params, opt_state, tracker, extras)``; ``extras`` holds what the
    observations add (the minibatch sampler, the epoch table, the Lyapunov tangent, the last
    top eigenvector).
    """

    def __init__(self, spec: Spec, landscape: Landscape, schedule: Schedule | None,
                 hyperparams: dict[str, jax.Array], swept: dict[str, jax.Array],
                 seed: jax.Array, x0: Any, plane: tuple[jax.Array, jax.Array] | None = None):
        self.spec, self.dtype = spec, jnp.dtype(spec.dtype)
        self.landscape = landscape.replace(
            **{f: swept[k] for k, f in spec.landscape_axes}).prepare()
        self.stochastic = isinstance(self.landscape, StochasticLandscape)
        self.per_epoch = self.landscape.steps_per_epoch if self.stochastic else None
        if schedule is not None and spec.schedule_axes:
            schedule = schedule.replace(**{f: swept[k] for k, f in spec.schedule_axes})
        self.schedule, self.swept = schedule, swept
        self.key = jax.random.key(seed)
        params = self.landscape.init(self.key) if x0 is None else x0
        params = cast_floats(params, self.dtype, jnp)
        self.carried = spec.layout.params(
            params, elementwise=spec.elementwise, stochastic=self.stochastic,
            per_group=any("@" in name for name in spec.optimizer_axes))
        self.params0 = self.carried.carry(params)
        # the fixed direction the ring buffer projects the iterate on (a constant)
        self.direction = self.carried.split(record.projection_direction(params, self.dtype))
        # the plane the path is recorded in (``Observe.path_every``), in the carried form
        self.plane = None if plane is None else paths.carried(plane, params, self.carried.split,
                                                              self.dtype)
        self.tx = _optimizer(spec, self.landscape, self.params0, hyperparams, swept)
        self.noise_key = jax.random.fold_in(self.key, 2)
        self.n_epochs = spec.steps // self.per_epoch if self.per_epoch else 0
        every = spec.observe.curvature_every
        self.per_block = every // spec.observe.record_every if every else 1

    # -- one update ----------------------------------------------------------------------

    def draw(self, sampler: Any, t: jax.Array) -> tuple[Any, Any]:
        """The randomness of update ``t``: the minibatch and the added gradient noise."""
        batch = None
        if self.stochastic:
            batch, sampler = self.landscape.sample(sampler, t)
        noise = None
        if self.spec.gradient_noise:
            leaves, treedef = jax.tree.flatten(self.carried.whole(self.params0))
            keys = jax.random.split(jax.random.fold_in(self.noise_key, t), len(leaves))
            sigma = self.swept["gradient_noise"].astype(self.dtype)
            noise = self.carried.split(jax.tree.unflatten(treedef, [
                sigma * jax.random.normal(k, x.shape, self.dtype)
                for k, x in zip(keys, leaves, strict=True)]))
        return (batch, noise), sampler

    def loss_and_grad(self, params: Any, draws: Any) -> tuple[jax.Array, Any]:
        batch, noise = draws
        if self.stochastic:
            loss, grads = jax.value_and_grad(self.landscape.batch_loss)(params, batch)
        else:
            loss, grads = self.carried.value_and_grad(self.landscape.loss, params)
        if noise is not None:
            grads = jax.tree.map(jnp.add, grads, noise)
        return loss, grads

    def scaled_update(self, params: Any, opt_state: Any, t: jax.Array, draws: Any
                      ) -> tuple[Any, Any, Any]:
        loss, grads = self.loss_and_grad(params, draws)
        updates, new_state = self.tx.update(grads, opt_state, params)
        if self.schedule is not None:
            factor = self.schedule(t).astype(self.dtype)
            updates = jax.tree.map(lambda u: u * factor, updates)
        return loss, updates, new_state

    def advance(self, params: Any, opt_state: Any, t: jax.Array, draws: Any
                ) -> tuple[Any, Any]:
        """The optimizer's map (params, state) -> (params, state); loss and update as aux."""
        loss, updates, new_state = self.scaled_update(params, opt_state, t, draws)
        return (optax.apply_updates(params, updates), new_state), (loss, updates)

    # -- the carry before the loop -------------------------------------------------------

    def initial_carry(self) -> tuple[Any, dict[str, list]]:
        """The carry before step 0, and the curvature measured there (if observed)."""
        spec, params = self.spec, self.params0
        opt_state = self.tx.init(params)
        extras: dict[str, Any] = {}
        if self.stochastic:
            extras["sampler"] = self.landscape.sampler(jax.random.fold_in(self.key, 1))
        zero_step = jnp.zeros((), jnp.int32)
        first_draws, _ = self.draw(extras.get("sampler"), zero_step)
        loss0, first_update, _ = self.scaled_update(params, opt_state, zero_step, first_draws)
        tracker = record.start(loss0, first_update, params, spec.thresholds, noisy=spec.noisy,
                               observe=spec.observe)
        whole = self.carried.whole(params)
        if self.n_epochs:
            extras["epoch_sum"] = jnp.zeros((), self.dtype)
            extras["epoch_table"] = jnp.full((self.n_epochs, len(EPOCH_RECORDS)), jnp.nan,
                                             self.dtype)
        if spec.observe.lyapunov:
            extras["tangent"] = (self.direction, _tangent_zeros(opt_state))
            extras["log_growth"] = jnp.zeros((), self.dtype)
        if self.windows_per_path_sample:  # the start, then a row per sample
            start = self.plane.sample(params, record.tree_dot)
            rows = spec.steps // spec.observe.path_every + 1
            extras["path_table"] = jnp.zeros((rows, start.shape[0]), start.dtype).at[0].set(start)
        first: dict[str, list] = {}
        if spec.observe.curvature_every:
            values, vector = self.top_eigenpair(whole, None)
            extras["eigvec"] = vector
            first = {"sharpness": [values[0]],
                     "eigvec_overlap": [jnp.full((), jnp.nan, self.dtype)]}
            if spec.observe.curvature_k > 1:
                first["top_eigenvalues"] = [values]
        return (params, opt_state, tracker, extras), first

    def top_eigenpair(self, params: Any, init: jax.Array | None
                      ) -> tuple[jax.Array, jax.Array]:
        """The Hessian's ``curvature_k`` top eigenvalues and top eigenvector (Lanczos)."""
        observe = self.spec.observe
        pair = curvature.lanczos_ritz(self.landscape.loss, params, k=observe.curvature_k,
                                      iters=observe.curvature_iters, init=init)
        return pair.value, pair.vector

    # -- the scan bodies: step, window, block --------------------------------------------

    def step(self, carry: Any, t: jax.Array, with_ring: bool) -> tuple[Any, None]:
        params, opt_state, tracker, extras = carry
        draws, sampler = self.draw(extras.get("sampler"), t)
        if self.stochastic:
            extras = dict(extras, sampler=sampler)
        if self.spec.observe.lyapunov:
            (new_params, new_state), (d_params, d_state), (loss, updates) = jax.jvp(
                lambda p, s: self.advance(p, s, t, draws), (params, opt_state),
                extras["tangent"], has_aux=True)
            norm = jnp.sqrt(sum(jnp.vdot(x, x) for x in _float_leaves((d_params, d_state))))
            safe = jnp.maximum(norm, jnp.finfo(self.dtype).tiny)
            tangent = jax.tree.map(
                lambda d: d / safe if jnp.issubdtype(d.dtype, jnp.floating) else d,
                (d_params, d_state))
        else:
            loss, updates, new_state = self.scaled_update(params, opt_state, t, draws)
            new_params = optax.apply_updates(params, updates)
        tracker, alive = record.observe(
            tracker, t, loss, updates, params,
            direction=self.direction if with_ring else None,
            active_change=self.spec.thresholds.active_change)
        # A diverged trajectory keeps its parameters; its optimizer state is never read again.
        params = _select(alive, new_params, params)
        if self.spec.observe.lyapunov:
            extras = dict(extras, tangent=tangent, log_growth=extras["log_growth"]
                          + jnp.where(alive, jnp.log(safe), 0.0))
        if self.n_epochs:
            extras = self.epoch_step(extras, t, loss, alive, params)
        new_carry = (params, new_state, tracker, extras)
        return self.spec.layout.finish_step(new_carry, carry), None

    def epoch_step(self, extras: dict[str, Any], t: jax.Array, loss: jax.Array,
                   alive: jax.Array, params: Any) -> dict[str, Any]:
        """Add the minibatch loss to the epoch's sum; at the epoch's end, evaluate and log."""
        extras = dict(extras, epoch_sum=extras["epoch_sum"] + jnp.where(alive, loss, 0.0))
        per_epoch = self.per_epoch

        def close(extras: dict[str, Any]) -> dict[str, Any]:
            metrics = self.landscape.metrics(params)
            row = jnp.stack([extras["epoch_sum"] / per_epoch]
                            + [metrics[name] for name in EPOCH_RECORDS[1:]]).astype(self.dtype)
            row = jnp.where(alive, row, jnp.nan)
            table = jax.lax.dynamic_update_index_in_dim(
                extras["epoch_table"], row, (t + 1) // per_epoch - 1, axis=0)
            return dict(extras, epoch_sum=jnp.zeros_like(extras["epoch_sum"]), epoch_table=table)

        # ``t`` is the same for every trajectory, so under vmap this stays a branch.
        return jax.lax.cond((t + 1) % per_epoch == 0, close, lambda e: e, extras)

    @property
    def windows_per_path_sample(self) -> int:
        """Record windows between two path samples where a sample spans several (0: a window
        holds one or more samples, or no path is recorded)."""
        every, window = self.spec.observe.path_every, self.spec.observe.record_every
        return every // window if every is not None and every > window else 0

    def updates(self, carry: Any, ts: jax.Array, with_ring: bool
                ) -> tuple[Any, jax.Array | None]:
        """Run the updates ``ts`` (one record window); where ``path_every`` divides the window,
        also return the path samples taken after every ``path_every`` of them,
        ``(samples, rank + 1)``."""
        step = functools.partial(self.step, with_ring=with_ring)
        unroll = self.spec.layout.unroll
        every, n = self.spec.observe.path_every, ts.shape[0]
        if every is None or every >= n:
            carry, _ = jax.lax.scan(step, carry, ts, unroll=unroll)
            return carry, self.path_sample(carry)[None] if every == n else None

        def group(carry: Any, group_ts: jax.Array) -> tuple[Any, jax.Array]:
            carry, _ = jax.lax.scan(step, carry, group_ts, unroll=unroll)
            return carry, self.path_sample(carry)

        return jax.lax.scan(group, carry, ts.reshape(n // every, every))

    def path_sample(self, carry: Any) -> jax.Array:
        """The iterate's plane coordinates and distance from the plane (NaN once diverged)."""
        params, _, tracker, _ = carry
        sample = self.plane.sample(params, record.tree_dot)
        return jnp.where(tracker.diverged, jnp.nan, sample)

    def path_table_write(self, carry: Any, w: jax.Array) -> Any:
        """Where a path sample spans several record windows: after window ``w``, if a sample
        falls due, write it into the carried table of samples (its row ``(w + 1) / m``)."""
        m = self.windows_per_path_sample

        def write(extras: dict[str, Any]) -> dict[str, Any]:
            row = self.path_sample(carry)
            table = jax.lax.dynamic_update_index_in_dim(extras["path_table"], row,
                                                        (w + 1) // m, axis=0)
            return dict(extras, path_table=table)

        # ``w`` is the same for every trajectory, so under vmap this stays a branch.
        extras = jax.lax.cond((w + 1) % m == 0, write, lambda e: e, carry[3])
        return (*carry[:3], extras)

    def window(self, carry: Any, w: jax.Array, with_ring: bool) -> tuple[Any, dict]:
        every = self.spec.observe.record_every
        ts = w * every + jnp.arange(every, dtype=jnp.int32)
        carry, samples = self.updates(carry, ts, with_ring)
        if self.windows_per_path_sample:
            carry = self.path_table_write(carry, w)
        params, opt_state, tracker, extras = carry
        tracker, rec = record.close_window(tracker, w, self.spec.steps, every, params,
                                           self.spec.thresholds)
        rec = _present(rec)
        if self.stochastic:
            rec["loss_full"] = jnp.where(tracker.diverged, jnp.nan, self.landscape.loss(params))
        if samples is not None:
            rec["path_samples"] = samples
        return (params, opt_state, tracker, extras), rec

    def block(self, carry: Any, b: jax.Array, with_ring: bool) -> tuple[Any, Any]:
        """``per_block`` record windows, then a curvature measurement (if observed)."""
        windows = b * self.per_block + jnp.arange(self.per_block, dtype=jnp.int32)
        carry, recs = jax.lax.scan(functools.partial(self.window, with_ring=with_ring), carry,
                                   windows)
        if not self.spec.observe.curvature_every:
            return carry, (recs, {})
        params, opt_state, tracker, extras = carry
        values, vector = self.top_eigenpair(self.carried.whole(params), extras["eigvec"])
        overlap = jnp.abs(jnp.vdot(vector, extras["eigvec"]))
        alive = ~tracker.diverged
        measured = {"sharpness": jnp.where(alive, values[0], jnp.nan),
                    "eigvec_overlap": jnp.where(alive, overlap, jnp.nan)}
        if self.spec.observe.curvature_k > 1:
            measured["top_eigenvalues"] = jnp.where(alive, values, jnp.nan)
        return (params, opt_state, tracker, dict(extras, eigvec=vector)), (recs, measured)

    # -- the whole run -------------------------------------------------------------------

    def run(self) -> dict[str, jax.Array]:
        carry, first_curvature = self.initial_carry()
        spec = self.spec
        n_blocks = spec.steps // (spec.observe.record_every * self.per_block)
        # Only the last 2 * max_period steps feed the ring buffer: the blocks before them skip it.
        tail = min(n_blocks, math.ceil(spec.thresholds.buffer_size
                                       / (spec.observe.record_every * self.per_block)))
        blocks = jnp.arange(n_blocks, dtype=jnp.int32)
        carry, head = jax.lax.scan(functools.partial(self.block, with_ring=False), carry,
                                   blocks[: n_blocks - tail])
        carry, tail_out = jax.lax.scan(functools.partial(self.block, with_ring=True), carry,
                                       blocks[n_blocks - tail:])
        (head_records, head_curv), (tail_records, tail_curv) = head, tail_out
        outputs = self.summary(carry)
        if spec.observe.path_every is not None:
            outputs.update(self.path(head_records.pop("path_samples", None),
                                     tail_records.pop("path_samples", None), carry))
        outputs.update(jax.tree.map(lambda a, b: jnp.concatenate([a, b]).reshape(-1),
                                    head_records, tail_records))
        outputs.update({name: jnp.concatenate([jnp.stack(first), head_curv[name],
                                               tail_curv[name]])
                        for name, first in first_curvature.items()})
        if self.n_epochs:
            table = carry[3]["epoch_table"]
            outputs.update({name: table[:, i] for i, name in enumerate(EPOCH_RECORDS)})
        return outputs

    def path(self, head: jax.Array | None, tail: jax.Array | None, carry: Any
             ) -> dict[str, jax.Array]:
        """``path`` and ``path_distance``, the start first: from the samples every window
        returned (blocks, windows, samples per window, coordinates), or from the carried
        table where a sample spans several windows."""
        if self.windows_per_path_sample:
            samples = carry[3]["path_table"]
        else:
            start = self.plane.sample(self.params0, record.tree_dot)
            samples = jnp.concatenate([start[None], jnp.concatenate([head, tail]).reshape(
                -1, head.shape[-1])])
        return {"path": samples[:, :-1], "path_distance": samples[:, -1]}

    def summary(self, carry: Any) -> dict[str, jax.Array]:
        """What the trajectory has once: the tracker's summary, the tail if kept, and the
        Lyapunov exponent if tracked."""
        params, _, tracker, extras = carry
        spec = self.spec
        final_loss = self.landscape.loss(self.carried.whole(params))
        lyapunov = None
        if spec.observe.lyapunov:
            lyapunov = extras["log_growth"] / jnp.maximum(tracker.alive_steps, 1.0)
        summary = _present(record.summarise(tracker, final_loss, spec.steps,
                                            spec.observe.record_every, spec.thresholds,
                                            lyapunov=lyapunov))
        tail = summary.pop("tail")
        if spec.observe.keep_tail:
            summary["tail_loss"], summary["tail_projection"] = tail[:, 0], tail[:, 1]
        return summary


def _present(outputs: NamedTuple) -> dict[str, jax.Array]:
    """The fields of ``outputs`` that this run computes (those not ``None``), by name."""
    return {name: value for name, value in outputs._asdict().items() if value is not None}


def run_trajectory(
    spec: Spec,
    landscape: Landscape,
    schedule: Schedule | None,
    hyperparams: dict[str, jax.Array],
    x0: Any,
    plane: tuple[jax.Array, jax.Array] | None,
    swept: dict[str, jax.Array],
    seed: jax.Array,
) -> dict[str, jax.Array]:
    """Run one trajectory; return its outputs by name (:data:`lrscape.observe.VARIABLES`).

    Per trajectory: the :class:`~lrscape.record.Summary` and what the observations add
    (``lyapunov``, the tail); per record window: ``loss_last``, ``loss_mean`` (with noisy
    gradients also ``loss_min``, ``loss_max``; on a stochastic landscape also ``loss_full``);
    per curvature measurement (at step 0 and every ``curvature_every`` steps): ``sharpness``,
    ``eigvec_overlap``, ``top_eigenvalues``; per epoch of a finite-sum landscape:
    ``epoch_loss_mean``, ``train_loss``, ``train_accuracy``, ``val_loss``, ``val_accuracy``;
    with paths recorded (``plane`` holds the flat origin and basis of :mod:`lrscape.paths`),
    ``path`` and ``path_distance`` at the start and every ``path_every`` updates.

    On a :class:`~lrscape.landscapes.StochasticLandscape` the loss the tracker sees at each
    step is the minibatch loss, as a training loop logs it; ``final_loss`` and ``loss_full``
    are the full loss.
    """
    return _Trajectory(spec, landscape, schedule, hyperparams, swept, seed, x0, plane).run()


@functools.lru_cache(maxsize=64)
def compiled_chunk(spec: Spec) -> Any:
    """The jitted, vmapped program for one chunk of trajectories (built once per ``Spec``)."""

    def chunk(landscape, schedule, hyperparams, x0, plane, swept, seeds):  # noqa: ANN001, ANN202
        run = functools.partial(run_trajectory, spec, landscape, schedule, hyperparams, x0,
                                plane)
        return jax.vmap(run)(swept, seeds)

    return jax.jit(chunk)
