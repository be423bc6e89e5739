"""A sweep cut into chunks: the self-contained unit of work that every executor runs.

A :class:`ChunkJob` holds everything a process needs to compute any chunk of a sweep on its
own devices (the compiled program's :class:`~lrscape.simulate.Spec`, the landscape, schedule
and fixed hyperparameters as NumPy values, the grid's axes, the chunk size) and nothing that
belongs to one process (no devices, no compiled programs), so it pickles: the local executor
uses it in place, and Ray ships it once to every worker.

Chunk ``c`` is trajectories ``c * chunk`` to ``(c + 1) * chunk`` of the flat grid (C order);
its inputs are computed from the axes alone, so no process ever holds the whole flat grid. A
chunk is what is written to a store, resumed and shipped to a Ray task; it is computed as one
or more blocks of ``block`` trajectories, one compiled call each (a store's chunks span several
blocks when one block computes faster than a store write, see :func:`store_chunk`).
The last chunk is padded by repeating the last trajectory, and each process pads a chunk to a
multiple of its own device count (on CPU, a few trajectories more per device where the arrays
would otherwise be a multiple of 4 kB long: :func:`skewed`); the padding is cut off before
anything leaves the chunk.
Every chunk is a pure function of the job and its index: computed twice, anywhere, it gives
the same numbers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import grid as grid_mod
from . import layout
from .simulate import Spec, compiled_chunk

#: One chunk's results: (summary, records, series, epochs), each variable name -> values.
Outputs = tuple[dict[str, np.ndarray], ...]

_PROGRAMS: dict[Any, Any] = {}  # compiled chunk programs, by Spec, shapes and shardings


def cast_tree(tree: Any, dtype: np.dtype) -> Any:
    """``tree`` with its floating-point leaves (and Python floats) as NumPy ``dtype``."""
    if tree is None:
        return None

    def leaf(x: Any) -> Any:
        arr = np.asarray(x)
        floating = np.issubdtype(arr.dtype, np.floating) or isinstance(x, float)
        return arr.astype(dtype) if floating else arr

    return jax.tree.map(leaf, tree)


_MEMORY: dict[int, tuple[Any, Any]] = {}  # XLA's memory analysis, by compiled program


def memory_analysis(program: Any) -> Any:
    """XLA's memory analysis of a compiled program, computed once per program (it takes
    milliseconds, which a small sweep would pay on every call)."""
    if id(program) not in _MEMORY:
        if len(_MEMORY) >= 64:  # as many as ``_PROGRAMS`` keeps: no program outlives both
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[id(program)] = (program, program.memory_analysis())
    return _MEMORY[id(program)][1]


def machine_ram() -> int | None:
    """The machine's physical memory in bytes (``None`` where the system does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None


def program_bytes(program: Any, n_devices: int) -> int:
    """Memory a compiled chunk program needs on all devices together (arguments, outputs,
    temporaries), from XLA's memory analysis of the per-device program."""
    stats = memory_analysis(program)
    per_device = (stats.argument_size_in_bytes + stats.output_size_in_bytes
                  + stats.temp_size_in_bytes - stats.alias_size_in_bytes)
    return int(per_device) * n_devices


def chunk_for_budget(bytes_per_trajectory: float, n_devices: int, budget: int,
                     pad: Callable[[int], int] | None = None) -> int:
    """Trajectories per chunk: ``n_devices`` times a power of two, within ``budget`` bytes
    also once each device's share is padded by ``pad`` (trajectories -> trajectories)."""
    per_device = budget / n_devices / max(bytes_per_trajectory, 1.0)
    size = 1 << max(0, int(math.log2(max(per_device, 1.0))))
    while pad is not None and size > 1 and pad(size) > per_device:
        size //= 2
    return n_devices * size


#: On CPU, the working memory (XLA's temporaries) a chunk may use per device by default, so
#: that the state the scan updates every step stays in cache. Measured on a 2-core EPYC: the
#: 2-D valley (about 1 kB per trajectory) and the 1,000-D rugged quadratic (about 20 kB) both run
#: fastest with 4-5 MB per device, and up to 35% slower with the whole grid in one chunk.
CPU_CACHE_BYTES = 4 << 20


#: On CPU, the most trajectories per device a chunk starts with. The cache rule only ever
#: shrinks a chunk, larger chunks run no faster (the 2-D valley measured flat from 4,096 to
#: 32,768 per device), and compiling the first program at this size rather than at the whole
#: grid's means a large grid compiles once instead of twice (once only for its memory analysis).
CPU_FIRST_CHUNK_PER_DEVICE = 4096


#: The fewest trajectories a device computes in one program; a smaller share is padded. XLA
#: compiles a batch of one or two differently (a dimension of size one is dropped; the step's
#: single loop is emitted in another form), and its results then differ in the last bit from
#: those of any larger batch, so a chunk's numbers would depend on the chunk size.
MIN_PER_DEVICE = 4


#: On CPU, a chunk whose per-device arrays would be a multiple of 4 kB long gets this many more
#: bytes per array (see :func:`skewed`).
CPU_SKEW_BYTES = 64


def skewed(per_device: int, itemsize: int) -> int:
    """Trajectories per device, padded so that an array of them is not a multiple of 4 kB.

    The step's single loop (:func:`lrscape.layout.write_in_one_loop`) reads and writes some
    twenty arrays at the same index. When they lie a multiple of 4 kB apart, the core takes
    each load for a possible reload of an earlier store to another array ("4K aliasing") and
    the loop runs 1.5-2x slower; :data:`CPU_SKEW_BYTES` more per array breaks the pattern.
    """
    if per_device * itemsize % 4096 == 0:
        return per_device + max(CPU_SKEW_BYTES // itemsize, 1)
    return per_device


def chunk_for_cache(program: Any, size: int, n_devices: int,
                    cache_bytes: int = CPU_CACHE_BYTES) -> int:
    """Trajectories per chunk whose temporaries fit ``cache_bytes`` per device: ``n_devices``
    times a power of two, at least 64 per device; ``program`` is compiled for ``size``."""
    per_trajectory = memory_analysis(program).temp_size_in_bytes / max(size // n_devices, 1)
    per_device = cache_bytes / max(per_trajectory, 1.0)
    return n_devices * (1 << max(6, int(math.log2(max(per_device, 1.0)))))


#: With a store, a chunk spans enough blocks to compute for about this long: each chunk's write
#: costs a few milliseconds per variable whatever its size, which on a cheap landscape (the 2-D
#: valley computes a block in about 20 ms) would otherwise take longer than the computing.
STORE_CHUNK_SECONDS = 0.5


#: A store sweep of fewer blocks than this is not timed: its store chunks are its blocks.
MIN_BLOCKS_TIMED = 8


def store_chunk(block: int, block_seconds: float, total: int,
                seconds: float = STORE_CHUNK_SECONDS) -> int:
    """Trajectories per store chunk: the most whole blocks of ``block`` trajectories that
    compute within ``seconds`` at ``block_seconds`` each, at least one, and no more than the
    grid needs."""
    blocks = max(1, int(seconds / max(block_seconds, 1e-9)))
    return block * min(blocks, max(1, math.ceil(total / block)))


class ChunkJob:
    """One sweep, ready to compute any of its chunks in any process.

    Args:
        spec: what shapes the compiled program.
        shared: ``(landscape, schedule, fixed hyperparameters, x0)``, NumPy leaves.
        axes: the grid's axes.
        seed: the seed of every trajectory when ``seed`` is not an axis.
        gradient_noise: the noise's standard deviation when it is not an axis.
        chunk: trajectories per chunk.
        block: trajectories per compiled call within a chunk (default and fallback: the whole
            chunk; a chunk is a whole number of blocks).
        zipped: the axes are a list of points (the i-th trajectory takes every axis's i-th
            value), not the axes of a grid.
        store: a results store each chunk is written to as it finishes, or ``None``.
        store_dims: each variable's dimensions after ``trajectory`` in the store.
        records: ``False``: :meth:`compute` returns each chunk's summaries alone (its records
            go to the store only), so that a Ray task sends the driver no more than it keeps.
    """

    def __init__(
        self,
        spec: Spec,
        shared: tuple[Any, ...],
        axes: tuple[grid_mod.Axis, ...],
        *,
        seed: int,
        gradient_noise: float,
        chunk: int,
        block: int | None = None,
        store: str | None = None,
        store_dims: Mapping[str, tuple[str, ...]] | None = None,
        zipped: bool = False,
        records: bool = True,
    ):
        self.spec = spec
        self.shared = shared
        self.axes = axes
        self.seed = seed
        self.gradient_noise = gradient_noise
        self.chunk = chunk
        self.block = block if block and chunk % block == 0 else chunk
        self.store = store
        self.store_dims = dict(store_dims or {})
        self.zipped = zipped
        self.records = records
        self.total = len(axes[0].values) if zipped else grid_mod.size(axes)
        self._placed: dict[Any, Any] = {}  # shared values on this process's devices
        self._programs: dict[Any, Any] = {}  # this process's compiled programs, by size

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_placed"] = {}  # device buffers and programs stay in the process that made them
        state["_programs"] = {}
        return state

    def with_chunk(self, chunk: int, store: str | None = None,
                   store_dims: Mapping[str, tuple[str, ...]] | None = None,
                   block: int | None = None, records: bool = True) -> ChunkJob:
        """The same job cut into chunks of ``chunk`` trajectories, computed in blocks of
        ``block`` (and written to ``store``)."""
        return ChunkJob(self.spec, self.shared, self.axes, seed=self.seed,
                        gradient_noise=self.gradient_noise, chunk=chunk, block=block,
                        store=store, store_dims=store_dims, zipped=self.zipped,
                        records=records)

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.total / self.chunk)

    def bounds(self, index: int) -> tuple[int, int]:
        """The trajectories ``[start, stop)`` of chunk ``index``."""
        return index * self.chunk, min((index + 1) * self.chunk, self.total)

    def inputs(self, start: int, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The swept values and seeds of trajectories ``start .. start + size - 1`` (indices
        past the grid repeat its last trajectory)."""
        dtype = np.dtype(self.spec.dtype)
        index = np.minimum(np.arange(start, start + size), self.total - 1)
        if self.zipped:  # a list of points: the i-th trajectory takes every axis's i-th value
            position = (index,) * len(self.axes)
        else:
            position = np.unravel_index(index, tuple(len(a.values) for a in self.axes))
        swept, seeds = {}, np.full(size, self.seed, np.uint32)
        for axis, where in zip(self.axes, position, strict=True):
            values = axis.values[where]
            if axis.target == "seed":
                seeds = values.astype(np.uint32)
                continue
            # Optimizer hyperparameters and the noise are passed under their field names.
            name = axis.field if axis.target in ("optimizer", "noise") else axis.name
            swept[name] = values.astype(dtype)
        if self.spec.gradient_noise and "gradient_noise" not in swept:
            swept["gradient_noise"] = np.full(size, self.gradient_noise, dtype)
        return swept, seeds

    def spec_for(self, devices: Sequence[jax.Device]) -> Spec:
        """The spec of the program for ``devices``: the layout follows the devices a process
        compiles for (:func:`lrscape.layout.suits`), so a Ray task on a GPU gets the GPU layout
        even when the sweep was planned on a CPU."""
        return self.spec._replace(one_loop=layout.suits(devices))

    def padded(self, size: int, devices: Sequence[jax.Device]) -> int:
        """``size`` rounded up to a multiple of the number of ``devices``, with at least
        :data:`MIN_PER_DEVICE` trajectories each; on CPU, each device's share also kept off
        multiples of 4 kB (:func:`skewed`)."""
        per_device = max(math.ceil(size / len(devices)), MIN_PER_DEVICE)
        if self.spec_for(devices).one_loop:
            per_device = skewed(per_device, np.dtype(self.spec.dtype).itemsize)
        return per_device * len(devices)

    def program(self, devices: Sequence[jax.Device], size: int) -> Any:
        """The chunk program for ``size`` trajectories sharded over ``devices``, compiled ahead
        of time (cached per process), so its memory analysis is known before anything runs
        and one executable serves every chunk."""
        local = (tuple(d.id for d in devices), size)
        if local in self._programs:
            return self._programs[local]
        shared, batched = self._placement(devices)
        with jax.enable_x64(self.spec.dtype == "float64"):
            inputs = jax.device_put(self.inputs(0, size), batched)
        leaves, treedef = jax.tree.flatten((shared, inputs))
        spec = self.spec_for(devices)
        key = (spec, str(treedef),
               tuple((np.shape(x), str(x.dtype), str(getattr(x, "sharding", "")))
                     for x in leaves))
        if key not in _PROGRAMS:
            if len(_PROGRAMS) >= 64:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            with jax.enable_x64(self.spec.dtype == "float64"):
                _PROGRAMS[key] = compiled_chunk(spec).lower(*shared, *inputs).compile()
        self._programs[local] = _PROGRAMS[key]
        return self._programs[local]

    def _placement(self, devices: Sequence[jax.Device]) -> tuple[Any, NamedSharding]:
        key = tuple(d.id for d in devices)
        if key not in self._placed:
            mesh = Mesh(np.array(devices), ("batch",))
            replicated = NamedSharding(mesh, PartitionSpec())
            with jax.enable_x64(self.spec.dtype == "float64"):
                shared = jax.device_put(self.shared, replicated)
            self._placed[key] = (shared, NamedSharding(mesh, PartitionSpec("batch")))
        return self._placed[key]

    def _block_runner(self, devices: Sequence[jax.Device]) -> Callable[[int], Any]:
        """A function starting the block of trajectories from ``first`` on ``devices`` and
        returning its device outputs at once (JAX dispatches asynchronously)."""
        size = self.padded(self.block, devices)
        program = self.program(devices, size)
        shared, batched = self._placement(devices)

        def run(first: int) -> Any:
            with jax.enable_x64(self.spec.dtype == "float64"):
                return program(*shared, *jax.device_put(self.inputs(first, size), batched))

        return run

    def launch(self, index: int, devices: Sequence[jax.Device]) -> list[Any]:
        """Start chunk ``index`` on ``devices``, block by block, and return the blocks' device
        outputs at once."""
        run = self._block_runner(devices)
        start, stop = self.bounds(index)
        return [run(first) for first in range(start, stop, self.block)]

    def fetch(self, index: int, outs: list[Any]) -> Outputs:
        """Chunk ``index``'s results on the host, padding removed, its blocks joined."""
        start, stop = self.bounds(index)
        blocks = [tuple({name: np.asarray(value)[: min(self.block, stop - first)]
                         for name, value in group.items()} for group in jax.device_get(out))
                  for first, out in zip(range(start, stop, self.block), outs, strict=True)]
        if len(blocks) == 1:
            return blocks[0]
        return tuple({name: np.concatenate([b[g][name] for b in blocks]) for name in group}
                     for g, group in enumerate(blocks[0]))

    def block_seconds(self, devices: Sequence[jax.Device]) -> float:
        """Seconds one block takes on ``devices``, its program compiled: the first block,
        computed once and thrown away."""
        run = self._block_runner(devices)
        begin = time.perf_counter()
        jax.block_until_ready(run(0))
        return time.perf_counter() - begin

    def save(self, index: int, values: Outputs) -> None:
        """Write chunk ``index`` to the store, data first, then its done marker."""
        if self.store is None:
            return
        from .store import ChunkStore

        flat = {name: (self.store_dims[name], value)
                for group in values for name, value in group.items()}
        ChunkStore(self.store).write(index, self.bounds(index)[0], flat)

    def compute(self, index: int, devices: Sequence[jax.Device] | None = None) -> Outputs:
        """Compute chunk ``index`` start to finish on ``devices`` (default: this process's
        local devices), write it to the store if there is one, and return it."""
        values = self.fetch(index, self.launch(index, devices or jax.local_devices()))
        self.save(index, values)
        return kept(values, self.records)


def kept(outputs: Sequence[Mapping[str, Any]], records: bool) -> tuple[Any, ...]:
    """What a sweep keeps of a chunk's (or a program's) output groups: all of them, or with
    ``records=False`` the per-trajectory summaries (the first group) alone, the others empty."""
    return tuple(outputs) if records else (outputs[0],) + tuple({} for _ in outputs[1:])


#: Called by an executor with each chunk's index and results as soon as it is done.
OnDone = Callable[[int, Outputs], None]
