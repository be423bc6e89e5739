"""Execution: who computes a sweep's chunks, streaming them to its store.

:func:`execute` is the sweep's execution stage: it creates or resumes the results store, reads
the chunks already there, has an executor compute the others, and returns the
:class:`Outputs`. :class:`LocalExecutor` (the default) runs the chunks one after another on
this process's devices, launching the next while the host copies the last one's results.
:class:`RayExecutor` makes every chunk a Ray task: tasks run wherever the cluster has room,
each writes its own region of the store, and a task whose worker dies is run again (every
chunk is a pure function of the sweep, so a rerun gives the same numbers).

An executor has one method, ``run(job, plan, todo, on_done, store, records)``: compute the
chunks ``todo`` of ``job`` cut as ``plan`` says (an iterable of chunk indices, to be drawn
one at a time as the executor is ready for the next: with a store, each is claimed from other
processes writing it as it is drawn), write each to ``store`` (a
:class:`~lrscape.store.ChunkStore`, or ``None``), and call ``on_done(index, values)`` in this
process as each finishes, ``values`` holding what the sweep keeps (``records``).

>>> from lrscape.executors import get
>>> get("local")
LocalExecutor(devices=None)
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

import jax
import numpy as np

from ._fields import require_int, require_nonnegative
from ._version import code_versions, describe
from .chunks import ChunkJob, Values
from .observe import kept
from .plan import Plan
from .store import ChunkStore, chunks_done, warn_of_repairs

#: Called by an executor with each chunk's index and kept results as soon as it is done.
OnDone = Callable[[int, Values], None]


@dataclasses.dataclass
class Outputs:
    """What the execution stage returns.

    Attributes:
        values: every kept variable over all trajectories (flat, in C order of the grid).
        plan: the plan the chunks were computed by (a resumed store's chunk size).
        resumed: the chunks read from the store instead of computed.
    """

    values: dict[str, np.ndarray]
    plan: Plan
    resumed: int = 0


def execute(job: ChunkJob, plan: Plan, executor: Any, *, store: str | None = None,
            records: bool = True, progress: bool | None = None) -> Outputs:
    """Compute every chunk of ``job`` (those a store at ``store`` does not hold intact yet)
    with ``executor``, streaming each to the store, and return the kept values.

    With a store, every chunk it holds is checked first (its files and checksums: a damaged
    one is computed again), and each chunk to compute is claimed before it is handed to the
    executor: a chunk another process is computing is left to it and read once written (or
    computed here if that process dies first)."""
    # Every output, preallocated for the whole grid: every chunk is computed or read from the
    # store before the outputs are returned, so filling them first would only cost time.
    values = {name: np.empty((plan.total,) + s.shape[1:], s.dtype)
              for name, s in kept(plan.out_info, records).items()}
    writer = None
    if store is not None:
        writer = ChunkStore(store)
        chunk, _ = writer.create_or_resume(_template(job, plan), plan.chunk, plan.n_chunks)
        plan = plan.with_chunk(chunk)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    try:
        resumed = _read_stored(writer, plan, values, show) if writer is not None else []
        if writer is not None:
            warn_of_repairs(writer)
        finished = sum(plan.bounds(c)[1] - plan.bounds(c)[0] for c in resumed)
        stored = set(resumed)
        todo = [c for c in range(plan.n_chunks) if c not in stored]
        with _progress_bar(show, total=plan.total, initial=finished, unit="traj",
                          desc="sweep") as bar:

            def on_done(index: int, new: Values) -> None:
                start, stop = plan.bounds(index)
                for name in values:  # what is kept in memory
                    values[name][start:stop] = new[name]
                bar.update(stop - start)
                if writer is not None:
                    writer.release(index)

            if writer is None:
                executor.run(job, plan, todo, on_done, None, records)
            else:
                resumed += _share(writer, job, plan, todo, executor, on_done, records,
                                  list(values))
    except ValueError:
        if writer is not None and writer.created and chunks_done(store)[0] == 0:
            shutil.rmtree(store, ignore_errors=True)  # refused at its first chunk: no store
        raise
    except KeyboardInterrupt as interrupt:
        if store is not None and os.path.exists(store):
            n_done, n_all = chunks_done(store)
            interrupt.add_note(f"lrscape.sweep: {n_done} of {n_all} chunks are stored in "
                               f"{os.fspath(store)!r}; the same call computes the other "
                               f"{n_all - n_done}")
        raise
    finally:
        if writer is not None:
            writer.release()  # every claim this process still holds
    return Outputs(values, plan, resumed=len(resumed))


def _progress_bar(show: bool, **options: Any) -> Any:
    """A tqdm bar, drawn only when ``show``. A shown bar is ``tqdm.auto``'s (a widget in a
    notebook); a hidden one is the plain bar, so a silent sweep, and ``import lrscape``, never
    run tqdm's notebook detection, which warns "IProgress not found" without ipywidgets."""
    if show:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    return tqdm(disable=not show, **options)


def _read_stored(writer: ChunkStore, plan: Plan, values: dict[str, np.ndarray],
                 show: bool) -> list[int]:
    """Check every chunk the store marks done, completely, and read what the sweep keeps of
    the intact ones; return those (a damaged one is unmarked, and computed again)."""
    chunks = [int(c) for c in np.flatnonzero(writer.marked())]
    intact = []
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool, _progress_bar(
            show and bool(chunks), total=len(chunks), unit="chunk",
            desc="checking the store") as bar:
        for index, got in zip(chunks, pool.map(lambda c: writer.stored(c, list(values)),
                                               chunks), strict=True):
            bar.update(1)
            if got is not None:
                _fill(values, plan, index, got)
                intact.append(index)
    return intact


def _fill(values: dict[str, np.ndarray], plan: Plan, index: int, new: Values) -> None:
    start, stop = plan.bounds(index)
    for name in values:
        values[name][start:stop] = new[name]


def _share(writer: ChunkStore, job: ChunkJob, plan: Plan, todo: Sequence[int], executor: Any,
           on_done: OnDone, records: bool, names: list[str]) -> list[int]:
    """Compute the chunks ``todo`` that no other process is computing, each claimed as the
    executor takes it; then wait for those others held, reading them once written (or
    computing them, when their process died). Returns the chunks read instead of computed."""
    read: list[int] = []
    deferred: list[int] = []

    def take(index: int) -> bool:
        """Whether chunk ``index``, claimed, is to be computed (else it was read)."""
        got = writer.stored(index, names)
        if got is None:
            return True
        on_done(index, got)  # written meanwhile by another process: read, claim given up
        read.append(index)
        return False

    def claimed() -> Iterator[int]:
        for index in todo:
            if not writer.claim(index):
                deferred.append(index)  # another process is computing it
            elif take(index):
                yield index

    executor.run(job, plan, claimed(), on_done, writer, records)
    while deferred:
        waiting, deferred = deferred, []
        again = [index for index in waiting if writer.claim(index, wait=True) and take(index)]
        executor.run(job, plan, again, on_done, writer, records)
    return read


def _template(job: ChunkJob, plan: Plan) -> Any:
    """The store's template: the Dataset of every variable, each a view of one trajectory's
    worth (only its shapes and dtypes are used)."""
    return job.experiment.dataset({
        name: np.broadcast_to(np.empty((1,) + s.shape[1:], s.dtype), (plan.total,) + s.shape[1:])
        for name, s in plan.out_info.items()})


def check_starts(job: ChunkJob, plan: Plan, index: int, values: Values) -> None:
    """Refuse chunk ``index`` (before it is stored) if a trajectory starts where the loss is
    not finite in the simulation's dtype: a start so far out that its loss overflows (in
    float32 beyond 3.4e38), or outside the landscape's domain. Its regime could only be
    wrong (a run that reaches the minimum in one step would read DIVERGED at step 0)."""
    loss = values.get("initial_loss")
    if loss is None or np.isfinite(loss).all():
        return
    bad = np.flatnonzero(~np.isfinite(loss))
    experiment = job.experiment
    first = plan.bounds(index)[0] + int(bad[0])
    if experiment.points:
        where = {a.name: a.values[first] for a in experiment.axes}
    else:
        position = np.unravel_index(first, experiment.shape)
        where = {a.name: a.values[i] for a, i in zip(experiment.axes, position, strict=True)}
    at = ", ".join(f"{name} = {float(value):g}" for name, value in where.items())
    dtype = experiment.dtype
    why = (f"its start lies too far out for {dtype.name} (whose largest number is "
           f"{np.finfo(dtype).max:.3g}): run with dtype=float64, or start nearer the minimum"
           if np.isinf(loss[bad[0]]) else "the landscape is not defined at its start")
    raise ValueError(f"the loss at the start is {float(loss[bad[0]])} for {len(bad)} "
                     f"trajectories of chunk {index} (the first at {at}): {why} (`x0`, or the "
                     "landscape's start); no regime can be told from such a run")


class LocalExecutor:
    """Run every chunk in this process, sharded over ``devices`` (default: all local ones)."""

    def __init__(self, devices: Sequence[jax.Device] | None = None):
        self.devices = list(devices) if devices is not None else None

    def __repr__(self) -> str:
        return f"LocalExecutor(devices={self.devices!r})"

    def run(self, job: ChunkJob, plan: Plan, todo: Iterable[int], on_done: OnDone,
            store: ChunkStore | None = None, records: bool = True) -> None:
        devices = self.devices or jax.local_devices()
        pending = None
        for index in todo:
            out = job.launch(plan, index, devices)  # returns at once; runs while we collect
            if pending is not None:
                self._finish(job, plan, *pending, on_done, store, records)
            pending = (index, out)
        if pending is not None:
            self._finish(job, plan, *pending, on_done, store, records)

    @staticmethod
    def _finish(job: ChunkJob, plan: Plan, index: int, out: Any, on_done: OnDone,
                store: ChunkStore | None, records: bool) -> None:
        values = job.fetch(plan, index, out)
        check_starts(job, plan, index, values)
        if store is not None:
            store.write(index, plan.bounds(index)[0], values)
        on_done(index, kept(values, records))


def _compute_chunk(job: ChunkJob, plan: Plan, index: int, store: ChunkStore | None,
                   records: bool, versions: dict[str, str]) -> Values:
    """A Ray task: one chunk, on the worker's own devices, written to the store.

    ``versions`` are the driver's :func:`~lrscape._version.code_versions`; a worker running other
    versions refuses, since its numbers may differ from the rest of the sweep's.
    """
    here = code_versions()
    if here != versions:
        raise RuntimeError(f"a Ray worker runs {describe(here)}, the driver {describe(versions)}; "
                           "install the same versions on every node")
    values = job.compute(plan, index)
    check_starts(job, plan, index, values)
    if store is not None:
        store.write(index, plan.bounds(index)[0], values)
    return kept(values, records)  # a task sends the driver no more than it keeps


class RayExecutor:
    """Run every chunk as a Ray task (needs the ``ray`` extra: ``pip install lrscape[ray]``).

    Args:
        address: the Ray cluster to join (``"auto"``, ``"ray://host:10001"``, ...); ``None``
            joins the cluster this process is already connected to, or starts a local one.
        num_cpus: CPUs each task reserves.
        num_gpus: GPUs each task reserves (a task shards its chunk over the GPUs it sees).
        max_retries: how often a task whose worker died is run again.
        init_kwargs: further arguments of ``ray.init`` when this executor starts Ray.
        by_value: modules whose classes and functions are sent to the workers with the job,
            code included, instead of by name: a module of your own landscapes or schedules
            that the workers could not import (a file next to the driver). What a notebook or
            script defines in ``__main__`` is always sent that way.

    The results store must be on a file system every worker can reach.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_retries: int = 3,
        init_kwargs: dict[str, Any] | None = None,
        by_value: Sequence[ModuleType] = (),
    ):
        if address is not None and (not isinstance(address, str) or not address):
            raise ValueError(f"`address` must be a Ray address string, got {address!r}")
        require_nonnegative("num_cpus", num_cpus)
        require_nonnegative("num_gpus", num_gpus)
        require_int("max_retries", max_retries, 0)
        by_value = tuple(by_value)
        for module in by_value:
            if not isinstance(module, ModuleType) or module.__name__ not in sys.modules:
                raise ValueError(f"`by_value` must hold imported modules, got {module!r}")
        _import_ray()  # a missing extra is reported here, before anything compiles
        self.address = address
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = max_retries
        self.init_kwargs = dict(init_kwargs or {})
        self.by_value = by_value

    def __repr__(self) -> str:
        return (f"RayExecutor(address={self.address!r}, num_cpus={self.num_cpus}, "
                f"num_gpus={self.num_gpus}, max_retries={self.max_retries})")

    def connect(self) -> None:
        """Join the Ray cluster (or start a local one), unless this process already is
        connected; a cluster that cannot be reached is a ``ValueError`` naming the address
        (:func:`lrscape.sweep` connects before anything compiles or is stored)."""
        ray = _import_ray()
        if ray.is_initialized():
            return
        with warnings.catch_warnings():
            # JAX warns at any fork; Ray's fork execs its processes at once, taking none of
            # this process's threads with it
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                    category=RuntimeWarning)
            try:
                ray.init(address=self.address, **self.init_kwargs)
            except (ConnectionError, TimeoutError, ValueError, RuntimeError) as err:
                raise ValueError(f"`address` {self.address!r}: no Ray cluster to join there "
                                 f"({err})") from None

    def run(self, job: ChunkJob, plan: Plan, todo: Iterable[int], on_done: OnDone,
            store: ChunkStore | None = None, records: bool = True) -> None:
        ray = _import_ray()
        self.connect()
        task = ray.remote(_compute_chunk).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries,
            retry_exceptions=False)
        for module in self.by_value:
            ray.cloudpickle.register_pickle_by_value(module)
        shipped = ray.put(job)  # one copy in the object store, shared by every task
        versions = code_versions()
        running = {task.remote(shipped, plan, int(index), store, records, versions): int(index)
                   for index in todo}
        try:
            while running:
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    index = running.pop(ref)
                    on_done(index, ray.get(ref))
        finally:
            for ref in running:  # interrupted: stop what has not finished
                ray.cancel(ref, force=True)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray executor needs Ray: pip install 'lrscape[ray]'") from None
    return ray


def get(executor: Any, *, devices: Sequence[jax.Device] | None = None
        ) -> LocalExecutor | RayExecutor:
    """An executor from a name (``"local"``, ``"ray"``), an executor, or ``None`` (local)."""
    if executor is None or executor == "local":
        return LocalExecutor(devices)
    if executor == "ray":
        return RayExecutor()
    if hasattr(executor, "run") and not isinstance(executor, str):
        return executor
    raise ValueError(f"`executor` must be 'local', 'ray' or an executor, got {executor!r}")
