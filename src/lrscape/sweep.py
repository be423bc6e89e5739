"""The sweep engine: grid -> flat batch -> chunks -> jit(vmap(scan)) -> ``xarray.Dataset``.

Everything is checked in Python before anything is compiled. The grid is flattened to one batch
axis and cut into equal chunks (the last one padded), each a multiple of the device count and
sharded across the devices along that axis, so one compiled program serves every chunk and every
grid of the same shape. Chunks are dispatched asynchronously: the next runs while the host
copies the previous one's results.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import executors, landscapes, optimizers
from . import grid as grid_mod
from . import schedules as schedules_mod
from ._version import code_versions
from .chunks import (
    CPU_FIRST_CHUNK_PER_DEVICE,
    MIN_BLOCKS_TIMED,
    ChunkJob,
    Outputs,
    cast_tree,
    chunk_for_budget,
    chunk_for_cache,
    kept,
    machine_ram,
    program_bytes,
    store_chunk,
)
from .landscapes import Landscape, StochasticLandscape
from .optimizers import Optimizer
from .regimes import Regime, Thresholds
from .schedules import Schedule
from .simulate import Spec
from .store import ChunkStore, check_creatable, chunks_done

#: Record windows the CHAOTIC label needs: its steady envelope compares the largest losses of
#: the windows in the last two quarters of the run.
MIN_WINDOWS_FOR_CHAOS = 4

_SUMMARY_ATTRS: dict[str, dict[str, Any]] = {
    "regime": {"long_name": "regime of the trajectory", **Regime.flag_attrs()},
    "period": {"long_name": "period of the final cycle (1: fixed, 0: none found)"},
    "converged": {"long_name": "reached a fixed point within tolerance by the end"},
    "initial_loss": {"long_name": "loss at the start"},
    "final_loss": {"long_name": "loss after the last update (NaN if it passed the divergence "
                                "limit)"},
    "peak_loss_ratio": {"long_name": "largest loss over the run / initial loss"},
    "divergence_step": {"long_name": "update at which the loss passed the divergence limit "
                                     "(-1: never, also where a run is labelled diverged because "
                                     "it ended still growing)"},
    "oscillation": {"long_name": "share of the step-pair weight sum_t |dx_t . dx_(t-1)| on "
                               "pairs that reverse direction"},
    "late_oscillation": {"long_name": "the same share over the record windows that start in the "
                                      "second half of the run"},
    "step_ratio": {"long_name": "length of the last step / length of the first"},
    "step_correlation": {"long_name": "correlation of successive steps dx_t, dx_(t-1) over the "
                                      "record windows that start in the second half of the run "
                                      "(noisy runs)"},
    "late_change": {"long_name": "relative change of the largest loss, last quarter vs third"},
    "trainability": {"long_name": "trainability score: -sum of L_t/L_0 if trained, else sum of "
                                  "L_0/L_t (Sohl-Dickstein 2024)"},
    "trainable": {"long_name": "trained: the mean of the last 20 losses is below the initial "
                               "loss"},
    "lyapunov": {"long_name": "largest finite-time Lyapunov exponent of the update map, per "
                              "step"},
}
_SERIES_ATTRS = {
    "sharpness": {"long_name": "top Hessian eigenvalue (Lanczos)"},
    "eigvec_overlap": {"long_name": "|<v1(t), v1(t')>| of successive top eigenvectors"},
    "top_eigenvalues": {"long_name": "largest Hessian eigenvalues (Lanczos Ritz values), "
                                     "by rank"},
    "tail_loss": {"long_name": "loss over the last 2*max_period steps (oldest first)"},
    "tail_projection": {"long_name": "iterate projected on a fixed random unit direction, "
                                     "last 2*max_period steps"},
}
_RECORD_ATTRS = {
    "loss_last": {"long_name": "loss at the last step of each record window "
                               "(the minibatch loss on a stochastic landscape)"},
    "loss_mean": {"long_name": "mean loss over each record window"},
    "loss_min": {"long_name": "smallest loss over each record window"},
    "loss_max": {"long_name": "largest loss over each record window"},
    "loss_full": {"long_name": "full loss (noise-free, or on the whole training set) after "
                               "each record window's last update"},
}
_EPOCH_ATTRS = {
    "epoch_loss_mean": {"long_name": "mean minibatch loss over the epoch, as a training loop "
                                     "logs it"},
    "train_loss": {"long_name": "loss on the whole training set at the end of the epoch"},
    "train_accuracy": {"long_name": "accuracy on the training set at the end of the epoch"},
    "val_loss": {"long_name": "loss on the validation set at the end of the epoch"},
    "val_accuracy": {"long_name": "accuracy on the validation set at the end of the epoch"},
}


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
        dtype: ``jnp.float32`` (default) or ``jnp.float64`` (enables x64 for this call).
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
            not yet written (an interrupted sweep resumes); a different sweep is refused.
        records: ``False`` leaves the records (over steps, epochs and curvature
            measurements) out of the returned Dataset, which then holds what each trajectory
            has once (``regime``, the losses, ...: 38 bytes by default); with a ``store`` they are
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
    landscape = landscapes.get(landscape) if isinstance(landscape, str) else landscape
    if not isinstance(landscape, Landscape):
        raise ValueError(f"`landscape` must be a Landscape or a registry name, got {landscape!r}")
    if jax.tree_util.all_leaves([landscape]):
        raise ValueError(
            f"`landscape` {type(landscape).__name__} is not a JAX pytree: declare the class "
            f"with @lrscape.landscapes.register(\"a-name\"), which makes it a frozen dataclass "
            f"whose numeric fields are traced"
        )
    schedule = schedules_mod.resolve(schedule)
    optimizer = optimizers.resolve(optimizer, None)
    thresholds = _thresholds(thresholds)
    _check_positive_int("steps", steps)
    _check_positive_int("record_every", record_every)
    if steps % record_every:
        raise ValueError(
            f"`record_every` = {record_every} does not divide `steps` = {steps}: the last "
            f"window would be partial; choose e.g. "
            f"{_whole_windows(steps, record_every)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise ValueError(f"`seed` must be an integer in [0, 2**32), got {seed!r}")
    dtype = _dtype(dtype)
    if schedule is not None:
        schedule.check_horizon(steps)
    if points is not None:
        if grid is not None:
            raise ValueError("give `grid` or `points`, not both")
        if store is not None:
            raise ValueError("`store` needs a `grid`; a sweep over `points` returns its "
                             "Dataset only")
        axes = grid_mod.resolve(points, landscape, optimizer, schedule)
        lengths = {a.name: len(a.values) for a in axes}
        if not axes or len(set(lengths.values())) != 1:
            raise ValueError(f"`points` must give every axis the same number of values, got "
                             f"{lengths}")
    else:
        axes = grid_mod.resolve(grid, landscape, optimizer, schedule)
        grid_mod.check_ordered(axes)
    if missing := optimizer.missing(grid_mod.covered(axes, landscape)):
        raise ValueError(
            f"optimizer {optimizer.name!r} needs {', '.join(missing)}: make it a grid axis "
            f"(grid={{{missing[0]!r}: ...}}) or fix it with "
            f"lrscape.optimizers.get({optimizer.name!r}, {missing[0]}=...)"
        )
    devices = list(devices) if devices is not None else jax.local_devices()
    if not devices:
        raise ValueError("`devices` is empty")
    if chunk_size is not None:
        _check_positive_int("chunk_size", chunk_size)
    max_memory = (default_memory_budget(devices) if max_memory is None
                  else parse_memory(max_memory))
    if x0 is not None:
        x0 = _normalise_x0(x0, landscape)
    if curvature_every is not None:
        _check_positive_int("curvature_every", curvature_every)
        if curvature_every % record_every or steps % curvature_every:
            raise ValueError(
                f"`curvature_every` = {curvature_every} must be a multiple of `record_every` = "
                f"{record_every} and divide `steps` = {steps}"
            )
    _check_positive_int("curvature_iters", curvature_iters)
    _check_positive_int("curvature_k", curvature_k)
    if curvature_every is None:
        unused = [f"`{name}` = {value}" for name, value, default in (
            ("curvature_k", curvature_k, 1), ("curvature_iters", curvature_iters, 20))
            if value != default]
        if unused:
            raise ValueError(f"{' and '.join(unused)} {'act' if len(unused) > 1 else 'acts'} "
                             "only with `curvature_every` (how often to measure the "
                             "sharpness): give it too")
    if curvature_k > curvature_iters:
        raise ValueError(f"`curvature_k` = {curvature_k} must be at most `curvature_iters` = "
                         f"{curvature_iters}")
    for name, flag in (("lyapunov", lyapunov), ("keep_tail", keep_tail),
                       ("trainability", trainability), ("records", records)):
        if not isinstance(flag, bool):
            raise ValueError(f"`{name}` must be True or False, got {flag!r}")
    if (isinstance(gradient_noise, bool) or not isinstance(gradient_noise, int | float)
            or not np.isfinite(gradient_noise) or gradient_noise < 0):
        raise ValueError(f"`gradient_noise` must be a finite number >= 0, got {gradient_noise!r}")
    noise_axis = any(a.target == "noise" for a in axes)
    extras = {"curvature_every": curvature_every, "curvature_iters": curvature_iters,
              "curvature_k": curvature_k, "lyapunov": lyapunov, "keep_tail": keep_tail,
              "trainability": trainability,
              "gradient_noise": noise_axis or gradient_noise > 0}
    per_epoch = getattr(landscape, "steps_per_epoch", None)

    attrs = _attributes(landscape, optimizer, schedule, axes, steps, record_every, seed,
                        thresholds, dtype, x0)
    attrs.update({"curvature_every": curvature_every or 0,
                  "curvature_iters": curvature_iters if curvature_every else 0,
                  "curvature_k": curvature_k if curvature_every else 0,
                  "lyapunov": int(lyapunov),
                  "trainability": int(trainability),
                  "gradient_noise": "axis" if noise_axis else float(gradient_noise),
                  "steps_per_epoch": per_epoch or 0,
                  "noisy": int(isinstance(landscape, StochasticLandscape)
                               or extras["gradient_noise"])})

    windows = steps // record_every
    if windows < MIN_WINDOWS_FOR_CHAOS and not attrs["noisy"]:
        warnings.warn(
            f"{windows} record window(s) (steps = {steps}, record_every = {record_every}): "
            f"with fewer than {MIN_WINDOWS_FOR_CHAOS}, no trajectory can be labelled CHAOTIC "
            "(a chaotic one reads as OSCILLATORY); record more often to tell chaos apart",
            UserWarning, stacklevel=2)

    def build(outputs: Outputs) -> xr.Dataset:
        ds = _dataset(axes, outputs, steps, record_every, curvature_every, per_epoch,
                      zipped=points is not None)
        ds.attrs.update(attrs)
        return ds

    if store is not None and not isinstance(store, str | os.PathLike):
        raise ValueError(f"`store` must be a path, got {store!r}")
    if store is not None:
        check_creatable(store)
    run_on = executors.get(executor, devices=devices)
    try:
        with jax.enable_x64(dtype == np.float64):
            outputs = _run(
                landscape, optimizer, schedule, axes, steps, record_every, seed, x0,
                thresholds, dtype, chunk_size, devices, progress, extras,
                float(gradient_noise), max_memory,
                # absolute: a Ray worker resolves a relative path against its own directory
                None if store is None else os.path.abspath(store), run_on, build,
                points is not None, records,
            )
    except KeyboardInterrupt as interrupt:
        if store is not None and os.path.exists(store):
            done, total = chunks_done(store)
            interrupt.add_note(f"lrscape.sweep: {done} of {total} chunks are stored in "
                               f"{os.fspath(store)!r}; the same call computes the other "
                               f"{total - done}")
        raise
    ds = build(outputs)
    if attrs["noisy"]:
        _warn_of_noisy_starts_at_zero(ds, thresholds)
    return ds


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


def _normalise_x0(x0: Any, landscape: Landscape) -> Any:
    """``x0`` as arrays in the structure and shapes of ``landscape.init``'s parameters."""
    expected = jax.eval_shape(lambda: landscape.init(jax.random.key(0)))
    treedef = jax.tree.structure(expected)
    want = [leaf.shape for leaf in jax.tree.leaves(expected)]
    try:
        leaves = [np.asarray(v, dtype=float) for v in treedef.flatten_up_to(x0)]
    except (TypeError, ValueError):
        leaves = None
    if leaves is None or [leaf.shape for leaf in leaves] != want:
        got = x0 if leaves is None else [leaf.shape for leaf in leaves]
        raise ValueError(f"`x0` must have the shapes of {type(landscape).__name__}'s parameters "
                         f"{want if len(want) > 1 else want[0]}, got {got!r}")
    if not all(np.all(np.isfinite(leaf)) for leaf in leaves):
        raise ValueError(f"`x0` must be finite, got {x0!r}")
    return jax.tree.unflatten(treedef, leaves)


def _thresholds(value: Thresholds | Mapping[str, Any] | None) -> Thresholds:
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if isinstance(value, Mapping):
        known = [f.name for f in dataclasses.fields(Thresholds)]
        if unknown := sorted(set(value) - set(known)):
            raise ValueError(f"`thresholds`: unknown {unknown}; the thresholds are {known}")
        return Thresholds(**value)
    raise ValueError(f"`thresholds` must be a Thresholds or a dict, got {value!r}")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}")


def _dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(jnp.float32 if dtype is None else dtype)
    except TypeError:
        raise ValueError(f"`dtype` must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"`dtype` must be float32 or float64, got {dtype!r}")
    return resolved


def default_memory_budget(devices: Sequence[jax.Device]) -> int:
    """Bytes a chunk may use by default: half of the accelerators' memory, or on CPU a
    quarter of the machine's RAM, at most 2 GiB."""
    limits = []
    for device in devices:
        stats = device.memory_stats() if device.platform != "cpu" else None
        if stats and stats.get("bytes_limit"):
            limits.append(int(stats["bytes_limit"]) // 2)
    if limits and len(limits) == len(devices):
        return sum(limits)
    return int(min((machine_ram() or 8 << 30) // 4, 2 << 30))


def parse_memory(value: int | str) -> int:
    """Bytes from an integer or a size such as ``"512MiB"``, ``"4GiB"`` or ``"2GB"``."""
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
    if isinstance(value, bool):
        raise ValueError(f"`max_memory` must be a number of bytes or a size like '4GiB', "
                         f"got {value!r}")
    if isinstance(value, int | np.integer | float) and np.isfinite(value) and value > 0:
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", value)
        if match and match.group(2).lower() in units and float(match.group(1)) > 0:
            return int(float(match.group(1)) * units[match.group(2).lower()])
    raise ValueError(f"`max_memory` must be a number of bytes > 0 or a size like '4GiB', "
                     f"got {value!r}")


def _run(
    landscape: Landscape,
    optimizer: Optimizer,
    schedule: Schedule | None,
    axes: tuple[grid_mod.Axis, ...],
    steps: int,
    record_every: int,
    seed: int,
    x0: Any,
    thresholds: Thresholds,
    dtype: np.dtype,
    chunk_size: int | None,
    devices: list[jax.Device],
    progress: bool | None,
    extras: dict[str, Any],
    gradient_noise: float,
    max_memory: int,
    store: str | None,
    executor: Any,
    build: Callable[[Outputs], xr.Dataset],
    zipped: bool = False,
    records: bool = True,
) -> Outputs:
    total = len(axes[0].values) if zipped else grid_mod.size(axes)
    fixed = {k: np.asarray(v, dtype) for k, v in optimizer.hyperparams.items()
             if v is not None and k not in {a.field for a in axes if a.target == "optimizer"}}
    on_cpu = all(d.platform == "cpu" for d in devices)
    spec = Spec(
        factory=optimizer.factory,
        options=tuple(sorted(optimizer.options.items())),
        optimizer_axes=tuple(a.field for a in axes if a.target == "optimizer"),
        landscape_axes=tuple((a.name, a.field) for a in axes if a.target == "landscape"),
        schedule_axes=tuple((a.name, a.field) for a in axes if a.target == "schedule"),
        steps=steps,
        record_every=record_every,
        thresholds=thresholds,
        dtype=dtype.name,
        elementwise=optimizer.elementwise,
        **extras,
    )
    shared = tuple(cast_tree(part, dtype) for part in (landscape, schedule, fixed, x0))
    n_dev = len(devices)
    whole = math.ceil(total / n_dev) * n_dev
    chunk = math.ceil(min(chunk_size or whole, whole) / n_dev) * n_dev
    if chunk_size is None and on_cpu:
        # Larger chunks run no faster on CPU, and the first program compiled is then usually
        # the one that runs (see ``CPU_FIRST_CHUNK_PER_DEVICE``).
        chunk = min(chunk, n_dev * CPU_FIRST_CHUNK_PER_DEVICE)
    job = ChunkJob(spec, shared, axes, seed=seed, gradient_noise=gradient_noise, chunk=chunk,
                   zipped=zipped)
    compiled_for = job.padded(chunk, devices)
    program = job.program(devices, compiled_for)
    # What the returned Dataset holds for the whole run: refused now if it cannot fit, rather
    # than killed for memory at the end of a long run.
    returned = total * sum(int(np.prod(s.shape[1:], dtype=np.int64)) * s.dtype.itemsize
                           for group in kept(program.out_info, records) for s in group.values())
    ram = machine_ram()
    if ram is not None and returned > ram:
        raise ValueError(
            f"the Dataset this sweep returns would hold {returned / 1e9:.1f} GB "
            f"({returned // total:,} bytes for each of {total:,} trajectories), more than this "
            f"machine's {ram / 1e9:.1f} GB of RAM: "
            + ("record less often (`record_every`), keep the records in the store alone "
               "(`records=False`), or sweep the grid in parts" if records
               else "sweep the grid in parts"))
    if chunk_size is None and program_bytes(program, n_dev) > max_memory:
        # The first chunk does not fit: as many trajectories as the budget allows.
        per_trajectory = program_bytes(program, n_dev) / compiled_for
        fewest = job.padded(n_dev, devices)
        if per_trajectory * fewest > max_memory:  # an underestimate: the shared part is spread
            raise ValueError(
                f"`max_memory` = {max_memory:,} bytes is less than a compiled call of the "
                f"fewest trajectories ({fewest} on {n_dev} device(s)) needs, about "
                f"{math.ceil(per_trajectory * fewest):,} bytes: raise it")
        chunk = min(chunk, chunk_for_budget(per_trajectory, n_dev, max_memory,
                                            pad=lambda n: job.padded(n * n_dev, devices) // n_dev))
    if chunk_size is None and on_cpu:
        # On CPU, chunks whose working set stays in cache run fastest.
        chunk = min(chunk, chunk_for_cache(program, compiled_for, n_dev))
    block = chunk  # trajectories per compiled call
    if (store is not None and not os.path.exists(store) and chunk_size is None
            and total >= MIN_BLOCKS_TIMED * block):
        # A new store's chunk spans as many blocks as compute in STORE_CHUNK_SECONDS, so that
        # its write does not cost more than its computing (the first block, timed, is
        # recomputed); a store being resumed keeps its own chunk.
        chunk = store_chunk(block, job.with_chunk(block).block_seconds(devices), total)
    n_chunks = math.ceil(total / chunk)

    # Every output, preallocated for the whole grid: every chunk is computed or read from the
    # store before the outputs are returned, so filling them first would only cost time.
    outputs: Outputs = tuple(
        {name: np.empty((total,) + s.shape[1:], s.dtype) for name, s in group.items()}
        for group in kept(program.out_info, records))
    done, dims = np.zeros(n_chunks, bool), {}
    if store is not None:
        # the store's template, every variable: only its shapes and dtypes are used, so each
        # is a view of one trajectory's worth
        template = build(tuple(
            {name: np.broadcast_to(np.empty((1,) + s.shape[1:], s.dtype), (total,) + s.shape[1:])
             for name, s in group.items()}
            for group in program.out_info))
        chunk, done = ChunkStore(store).create_or_resume(template, chunk, n_chunks)
        dims = {name: var.dims[len(axes):] for name, var in template.data_vars.items()}
    job = job.with_chunk(chunk, store, dims, block=block, records=records)

    for c in np.flatnonzero(done):
        stored = ChunkStore(store).read(*job.bounds(c), names=[n for g in outputs for n in g])
        for group in outputs:
            for name in group:
                group[name][slice(*job.bounds(c))] = stored[name]

    def on_done(c: int, values: Outputs) -> None:
        start, stop = job.bounds(c)
        for group, new in zip(outputs, values, strict=True):
            for name in group:  # what is kept in memory
                group[name][start:stop] = new[name]
        bar.update(stop - start)

    show = sys.stderr.isatty() if progress is None else bool(progress)
    finished = sum(job.bounds(c)[1] - job.bounds(c)[0] for c in np.flatnonzero(done))
    with tqdm(total=total, initial=finished, unit="traj", disable=not show,
              desc="sweep") as bar:
        executor.run(job, [int(c) for c in np.flatnonzero(~done)], on_done)
    return outputs


def _dataset(
    axes: tuple[grid_mod.Axis, ...],
    outputs: Outputs,
    steps: int,
    record_every: int,
    curvature_every: int | None,
    steps_per_epoch: int | None,
    zipped: bool = False,
) -> xr.Dataset:
    summary, records, series, epochs = outputs
    if zipped:
        shape, dims = (len(axes[0].values),), ("point",)
    else:
        shape, dims = tuple(len(a.values) for a in axes), tuple(a.name for a in axes)
    coords: dict[str, Any] = {}
    for a in axes:
        spacing = "log" if grid_mod.is_log_spaced(a.values) else "linear"
        coords[a.name] = (dims[0] if zipped else a.name, a.values,
                          {"sweeps": f"{a.target}.{a.field}", "spacing": spacing})
    if records:  # left out with sweep(..., records=False), as the records are
        coords["step"] = ("step", np.arange(1, steps // record_every + 1) * record_every,
                          {"long_name": "updates done at the end of the record window"})
    if curvature_every and series:
        coords["curvature_step"] = (
            "curvature_step", np.arange(0, steps + 1, curvature_every),
            {"long_name": "updates done when the curvature was measured"})
    if epochs:
        coords["epoch"] = ("epoch", np.arange(1, steps // steps_per_epoch + 1),
                           {"long_name": f"epochs done ({steps_per_epoch} updates each)"})
    data = {}
    for name, value in epochs.items():
        data[name] = (dims + ("epoch",), value.reshape(shape + value.shape[1:]),
                      _EPOCH_ATTRS[name])
    for name, value in summary.items():
        if name.startswith("tail_"):
            data[name] = (dims + ("tail",), value.reshape(shape + value.shape[1:]),
                          _SERIES_ATTRS[name])
            continue
        data[name] = (dims, value.reshape(shape), _SUMMARY_ATTRS[name])
    for name, value in records.items():
        data[name] = (dims + ("step",), value.reshape(shape + value.shape[1:]),
                      _RECORD_ATTRS[name])
    for name, value in series.items():
        extra = ("rank",) if value.ndim == 3 else ()
        data[name] = (dims + ("curvature_step",) + extra,
                      value.reshape(shape + value.shape[1:]), _SERIES_ATTRS[name])
    return xr.Dataset(data, coords=coords)


def _whole_windows(steps: int, record_every: int) -> str:
    """Nearby ``steps`` values that ``record_every`` divides, as a suggestion."""
    below = steps - steps % record_every
    above = below + record_every
    return f"steps={below} or steps={above}" if below else f"steps={above}"


def _attributes(
    landscape: Landscape,
    optimizer: Optimizer,
    schedule: Schedule | None,
    axes: tuple[grid_mod.Axis, ...],
    steps: int,
    record_every: int,
    seed: int,
    thresholds: Thresholds,
    dtype: np.dtype,
    x0: Any,
) -> dict[str, Any]:
    return {
        "landscape": landscape.name,
        "landscape_config": json.dumps(landscape.config()),
        "optimizer": optimizer.name,
        "optimizer_config": json.dumps(optimizer.config()),
        "schedule": schedule.name if schedule is not None else "constant",
        "schedule_config": json.dumps(schedule.run_config(steps) if schedule is not None
                                      else {}),
        "grid_axes": json.dumps([[a.name, f"{a.target}.{a.field}"] for a in axes]),
        "steps": steps,
        "record_every": record_every,
        "seed": int(seed),
        "x0": "landscape.init" if x0 is None else json.dumps(
            jax.tree.map(lambda v: np.asarray(v).tolist(), x0)),
        "thresholds": json.dumps(dataclasses.asdict(thresholds)),
        "dtype": dtype.name,
        **code_versions(),
    }
