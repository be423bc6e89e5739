"""``lrscape.sweep``: one public function in four named stages.

1. **experiment**: the settings become an :class:`~lrscape.experiment.Experiment` (what is
   simulated) with its :class:`~lrscape.observe.Observe` (what is recorded), checked before
   anything compiles;
2. **plan**: the trajectories are cut into compiled blocks and store chunks that fit the
   memory budget and the devices (:mod:`lrscape.plan`);
3. **execute**: an executor computes the chunks, streaming them to the store
   (:mod:`lrscape.executors`);
4. **Dataset**: the flat outputs become the grid Dataset (:meth:`Experiment.dataset`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
import xarray as xr

from . import backend, executors
from . import plan as plan_mod
from ._fields import require_bool, require_optional_int
from .chunks import MIN_PER_DEVICE, ChunkJob
from .experiment import Experiment
from .landscapes import Landscape
from .observe import Observe
from .optimizers import Optimizer
from .regimes import Regime, Thresholds
from .schedules import Schedule
from .store import check_creatable, check_resumable


def sweep(
    landscape: Landscape | str,
    optimizer: str | Optimizer | Callable[..., Any] = "sgd",
    grid: Mapping[str, Iterable[float]] | None = None,
    *,
    steps: int = 1000,
    record_every: int = 10,
    seed: int = 0,
    x0: Any = None,
    schedule: Schedule | str | Callable[[jax.Array], Any] | None = None,
    gradient_noise: float = 0.0,
    thresholds: Thresholds | Mapping[str, Any] | None = None,
    dtype: Any = None,
    chunk_size: int | None = None,
    max_memory: int | str | None = None,
    devices: Sequence[jax.Device] | None = None,
    progress: bool | None = None,
    store: str | None = None,
    records: bool = True,
    executor: str | executors.LocalExecutor | executors.RayExecutor | None = None,
    curvature_every: int | None = None,
    curvature_iters: int = 20,
    curvature_k: int = 1,
    lyapunov: bool = False,
    keep_tail: bool = False,
    trainability: bool = False,
    points: Mapping[str, Iterable[float]] | None = None,
    observe: Observe | None = None,
) -> xr.Dataset:
    """Run one optimizer from every point of a hyperparameter grid and label each trajectory.

    Args:
        landscape: a :class:`~lrscape.landscapes.Landscape`, or a registry name.
        optimizer: a registry name (``"sgd"``, ``"momentum"``, ``"adam"``, ...), an
            :class:`~lrscape.optimizers.Optimizer` (``lrscape.optimizers.get("momentum",
            momentum=0.5)`` fixes values), or any optax factory.
        grid: axis name -> 1-D values. Names are optimizer hyperparameters, numeric fields of
            the landscape or the schedule, ``gradient_noise``, or ``seed``.
        steps: number of updates per trajectory, >= 1. On a finite-sum landscape an epoch is
            ``landscape.steps_per_epoch`` updates.
        record_every: the window, in steps, of each record (``loss_last``, ``loss_mean``, and
            on noisy runs ``loss_min``, ``loss_max``); must divide ``steps``. Memory grows with
            ``steps / record_every``, never with ``steps``.
        seed: the PRNG seed of ``landscape.init``, of the minibatch order and of the gradient
            noise when ``seed`` is not a grid axis.
        x0: explicit starting parameters for every trajectory (default: ``landscape.init``).
        schedule: a :class:`~lrscape.schedules.Schedule`, a registry name, or any JAX
            function ``step -> multiplier`` (an optax schedule, ``lambda t: 0.5 ** (t //
            100)``); the rate at update ``t`` is ``learning_rate * schedule(t)``.
        gradient_noise: the standard deviation :math:`\\sigma \\ge 0` of Gaussian noise
            :math:`\\mathcal N(0, \\sigma^2 I)` added to every gradient, drawn afresh per
            step and trajectory (on any landscape; also a grid axis, ``"gradient_noise"``).
        thresholds: the classifier's :class:`~lrscape.regimes.Thresholds` (or a dict of them).
        dtype: ``jnp.float32`` (default) or ``jnp.float64`` (enables x64 for this call):
            the landscape's constants, the starts (random ones drawn in it), data sets and
            grid values are all built in, or cast once to, this type.
        chunk_size: trajectories per compiled call (default: as many as fit in
            ``max_memory``, by the compiled program's own memory analysis; on CPU also at
            most 4,096 per device and few enough for a step's working set to stay in cache).
            Given, it is also the store's chunk; by default a store's chunk spans as many
            compiled calls as compute in about half a second (the first is timed), so that
            writing a chunk does not take longer than computing it.
        max_memory: the memory one compiled call may use, in bytes or as ``"4GiB"`` (default: half
            the accelerators' memory, or a quarter of the RAM up to 2 GiB on CPU); a budget
            too small for the fewest trajectories a call computes is refused, and so is a
            sweep whose returned Dataset would not fit in the machine's RAM.
        devices: devices to shard each chunk over (default: all local devices).
        progress: show a progress bar (default: only when stderr is a terminal).
        store: a path: stream the results there, chunk by chunk, as a zarr store
            (:mod:`lrscape.store`). Rerunning the same sweep into it computes only the chunks
            not yet written or found damaged (an interrupted sweep resumes; every stored chunk
            is checked against its checksums first); a different sweep is refused, before
            anything compiles. Processes running the same sweep into one store share its
            chunks.
        records: ``False`` leaves the records (over steps, epochs and curvature
            measurements) out of the returned Dataset, which then holds what each trajectory
            has once (``regime``, the losses, ...: 66 bytes by default); with a ``store`` they are
            written there all the same (read them with ``lrscape.open(store, isel=...)``). For
            grids whose records do not fit in memory.
        executor: who computes the chunks: ``"local"`` (default: this process, on
            ``devices``), ``"ray"`` (every chunk a Ray task, on the Ray cluster this process
            is connected to or a local one; each task writes its own region of ``store``), or
            an executor from :mod:`lrscape.executors`, such as
            ``RayExecutor(address="auto", num_gpus=1)``.
        curvature_every: measure the sharpness (the Hessian's top eigenvalue, by Lanczos
            warm-started from the last top eigenvector) at step 0 and every this many steps,
            with the overlap ``|<v1(t), v1(t')>|`` of successive top eigenvectors (landscape
            shift); a multiple of ``record_every`` that divides ``steps``.
        curvature_iters: Lanczos steps (Hessian-vector products) per measurement, capped at
            the dimension; each costs about two gradients.
        curvature_k: with ``curvature_k > 1``, also record the top ``curvature_k`` Ritz
            values as ``top_eigenvalues`` (NaN beyond the dimension); at most
            ``curvature_iters``.
        lyapunov: also estimate the largest Lyapunov exponent of the optimizer's update map
            (parameters and optimizer state), by propagating a tangent vector through the
            ``jvp`` of every step and renormalising it: positive for chaos, negative on a
            stable fixed point or cycle. About doubles the cost per step.
        keep_tail: also return the last ``2 * max_period`` steps the period detector saw:
            ``tail_loss`` and ``tail_projection`` (the iterate projected on a fixed random
            unit direction; in one dimension, the iterate up to its sign) along ``tail``, the
            material of bifurcation diagrams.
        points: instead of a grid, a list of points: axis name -> values, all of one length
            :math:`n`; trajectory :math:`i` takes every axis's :math:`i`-th value. The Dataset
            then has the dimension ``point`` with each axis a coordinate along it (what
            :func:`lrscape.refine` evaluates). Not with ``grid`` or ``store``.
        trainability: also return the trainability score of Sohl-Dickstein (2024) as
            ``trainability`` and its class as ``trainable`` (see
            :func:`lrscape.record.trainability`): with :math:`v_t = L_t / L_0` capped at
            :math:`10^6`, a run trained when its last 20 :math:`v_t` average below 1; the
            score is :math:`-\\sum_t v_t` then, else :math:`\\sum_t 1/v_t`. Two more sums per
            step.
        observe: what to record, as an :class:`~lrscape.observe.Observe`, instead of the
            keywords ``record_every`` to ``trainability`` above; it also has the observations
            that have no keyword here, such as ``Observe(best=True)`` (the smallest loss and
            when it was reached: ``best_loss``, ``best_step``).

    The keyword arguments build an :class:`~lrscape.experiment.Experiment` and its
    :class:`~lrscape.observe.Observe`, which are public too.

    Returns:
        An ``xarray.Dataset`` with one dimension per grid axis (coordinates = axis values) and
        ``step`` for the records: ``regime``, ``period``, ``converged``, ``initial_loss``,
        ``final_loss``, ``peak_loss_ratio``, ``divergence_step``, ``oscillation``,
        ``late_oscillation``, ``step_ratio``, ``late_change``, ``loss_last``, ``loss_mean``; with
        ``curvature_every``, ``sharpness`` and ``eigvec_overlap`` along ``curvature_step``;
        with ``lyapunov``, ``lyapunov``; with ``keep_tail``, ``tail_loss`` and
        ``tail_projection``. With noisy gradients (a stochastic landscape or
        ``gradient_noise``), records also hold each window's ``loss_min`` and ``loss_max``; on
        a :class:`~lrscape.landscapes.StochasticLandscape`, the records' losses are minibatch
        losses and ``loss_full`` is the full loss after each window. On a finite-sum
        landscape, ``epoch_loss_mean``, ``train_loss``, ``train_accuracy``, ``val_loss`` and
        ``val_accuracy`` along ``epoch``, logged at the end of every whole epoch.
    """
    experiment = Experiment.create(
        landscape, optimizer, grid, points=points, steps=steps, seed=seed, x0=x0,
        schedule=schedule, gradient_noise=gradient_noise, thresholds=thresholds, dtype=dtype,
        observe=_observe(observe, record_every=record_every, curvature_every=curvature_every,
                         curvature_iters=curvature_iters, curvature_k=curvature_k,
                         lyapunov=lyapunov, keep_tail=keep_tail, trainability=trainability))
    devices, budget = _run_options(experiment, devices, chunk_size, max_memory, store, records)
    fewest = len(devices) * backend.for_devices(devices).per_device(
        MIN_PER_DEVICE, experiment.dtype.itemsize)  # as ChunkJob.padded pads a block
    plan_mod.check_records_fit(experiment, devices, fewest, budget, records)
    run_on = executors.get(executor, devices=devices)
    if hasattr(run_on, "connect"):  # a cluster to join: before a store is made for it
        run_on.connect()
    experiment.warn_of_few_windows()
    # absolute: a Ray worker resolves a relative path against its own directory
    store = None if store is None else os.path.abspath(store)
    with jax.enable_x64(experiment.dtype == np.float64):
        job = ChunkJob(experiment)
        plan = plan_mod.make(job, devices, chunk_size=chunk_size, max_memory=budget,
                             records=records, new_store=store is not None
                             and not os.path.exists(store))
        outputs = executors.execute(job, plan, run_on, store=store, records=records,
                                    progress=progress)
    ds = experiment.dataset(outputs.values)
    if experiment.noisy:
        _warn_of_noisy_starts_at_zero(ds, experiment.thresholds)
    return ds


def _observe(observe: Observe | None, **keywords: Any) -> Observe:
    """``observe``, or the observation keywords as an :class:`Observe`; not both."""
    if observe is None:
        return Observe(**keywords)
    if not isinstance(observe, Observe):
        raise ValueError(f"`observe` must be an lrscape.Observe, got {observe!r}")
    defaults = Observe()
    if given := [k for k, v in keywords.items() if v != getattr(defaults, k)]:
        raise ValueError(f"give `observe` or the keywords {given}, not both: "
                         f"Observe({', '.join(f'{k}=...' for k in given)}, ...)")
    return observe


def _run_options(experiment: Experiment, devices: Sequence[jax.Device] | None,
                 chunk_size: int | None, max_memory: int | str | None, store: Any,
                 records: bool) -> tuple[list[jax.Device], int]:
    """Check how the sweep runs (not what it simulates): the devices, the memory budget in
    bytes, the chunk size, the store path."""
    devices = list(devices) if devices is not None else jax.local_devices()
    if not devices:
        raise ValueError("`devices` is empty")
    require_optional_int("chunk_size", chunk_size)
    budget = (plan_mod.default_memory_budget(devices) if max_memory is None
              else plan_mod.parse_memory(max_memory))
    require_bool("records", records)
    if experiment.observe.path_every is not None and not records and store is None:
        raise ValueError(f"`path_every` = {experiment.observe.path_every} with records=False and "
                         "no `store`: the paths are records, so they would be computed and "
                         "thrown away; give a store to keep them in, or records=True")
    if store is not None:
        if experiment.points:
            raise ValueError("`store` needs a `grid`; a sweep over `points` returns its "
                             "Dataset only")
        if not isinstance(store, str | os.PathLike):
            raise ValueError(f"`store` must be a path, got {store!r}")
        check_creatable(store)
        if os.path.exists(store):  # one to resume: the same sweep, by the same versions?
            check_resumable(os.fspath(store), experiment.attrs(),
                            {a.name: a.values for a in experiment.axes})
    return devices, budget


def _warn_of_noisy_starts_at_zero(ds: xr.Dataset, thresholds: Thresholds) -> None:
    """A noisy run that starts where the loss is 0 (a minimum) has the divergence limit
    ``divergence_ratio * divergence_floor``, 1e-6 by default, which the noise passes at once:
    say so when that happened under the default floor."""
    if thresholds.divergence_floor != Thresholds().divergence_floor:
        return  # chosen on purpose
    at_zero = np.abs(ds["initial_loss"].values) <= thresholds.divergence_floor  # NaN: False
    diverged = int(np.sum(at_zero & (ds["regime"].values == Regime.DIVERGED)))
    if not diverged:
        return
    limit = thresholds.divergence_ratio * thresholds.divergence_floor
    warnings.warn(
        f"{diverged} noisy trajectories started where the loss is 0 and are DIVERGED: their "
        f"divergence limit is divergence_ratio * divergence_floor = {limit:g}, which gradient "
        "noise passes at once; to watch fluctuations about a minimum, pass "
        "thresholds={'divergence_floor': F}, F * divergence_ratio being a loss you would call "
        "diverged", UserWarning, stacklevel=3)
