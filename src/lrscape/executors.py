"""Executors: who computes a sweep's chunks.

:class:`LocalExecutor` (the default) runs them one after another on this process's devices,
launching the next chunk while the host copies the last one's results. :class:`RayExecutor`
makes every chunk a Ray task: tasks run wherever the cluster has room, each writes its own
region of the results store, and a task whose worker dies is run again (every chunk is a pure
function of the sweep, so a rerun gives the same numbers).

An executor has one method, ``run(job, todo, on_done)``: compute the chunks ``todo`` of the
:class:`~lrscape.chunks.ChunkJob` ``job``, write each to ``job.store`` when it has one, and call
``on_done(index, results)`` in this process as each finishes.

>>> from lrscape.executors import get
>>> get("local")
LocalExecutor(devices=None)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import jax

from ._version import code_versions, describe
from .chunks import ChunkJob, OnDone, Outputs


class LocalExecutor:
    """Run every chunk in this process, sharded over ``devices`` (default: all local ones)."""

    def __init__(self, devices: Sequence[jax.Device] | None = None):
        self.devices = list(devices) if devices is not None else None

    def __repr__(self) -> str:
        return f"LocalExecutor(devices={self.devices!r})"

    def run(self, job: ChunkJob, todo: Sequence[int], on_done: OnDone) -> None:
        devices = self.devices or jax.local_devices()
        pending = None
        for index in todo:
            out = job.launch(index, devices)  # returns at once; runs while we collect
            if pending is not None:
                self._finish(job, *pending, on_done)
            pending = (index, out)
        if pending is not None:
            self._finish(job, *pending, on_done)

    @staticmethod
    def _finish(job: ChunkJob, index: int, out: Any, on_done: OnDone) -> None:
        values = job.fetch(index, out)
        job.save(index, values)
        on_done(index, values)


def _compute_chunk(job: ChunkJob, index: int, versions: dict[str, str]) -> Outputs:
    """A Ray task: one chunk, on the worker's own devices, written to the store.

    ``versions`` are the driver's :func:`~lrscape._version.code_versions`; a worker running other
    versions refuses, since its numbers may differ from the rest of the sweep's.
    """
    here = code_versions()
    if here != versions:
        raise RuntimeError(f"a Ray worker runs {describe(here)}, the driver {describe(versions)}; "
                           "install the same versions on every node")
    return job.compute(index)


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
        for name, value in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"`{name}` must be a number >= 0, got {value!r}")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"`max_retries` must be an integer >= 0, got {max_retries!r}")
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

    def run(self, job: ChunkJob, todo: Sequence[int], on_done: OnDone) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            with warnings.catch_warnings():
                # JAX warns at any fork; Ray's fork execs its processes at once, taking none of
                # this process's threads with it
                warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called",
                                        category=RuntimeWarning)
                ray.init(address=self.address, **self.init_kwargs)
        task = ray.remote(_compute_chunk).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus, max_retries=self.max_retries,
            retry_exceptions=False)
        for module in self.by_value:
            ray.cloudpickle.register_pickle_by_value(module)
        shipped = ray.put(job)  # one copy in the object store, shared by every task
        versions = code_versions()
        running = {task.remote(shipped, int(index), versions): int(index) for index in todo}
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
