"""How a sweep is cut up: trajectories per compiled call (a *block*) and per store chunk.

A :class:`Plan` is decided once, before anything runs, from XLA's memory analysis of the first
compiled program, the memory budget, the devices and (on CPU) the cache, and with a new store
from the time one block takes. Everything here is sizing arithmetic; the only side effect is
compiling the program the sweep then runs (cached), and, for a new store, timing one block.

Rules, in order: a block is a multiple of the device count; on CPU it starts at
:data:`CPU_FIRST_CHUNK_PER_DEVICE` per device (larger runs no faster); it shrinks to fit
``max_memory`` and on CPU to keep its temporaries in cache (:data:`CPU_CACHE_BYTES`); a new
store's chunk spans as many blocks as compute in :data:`STORE_CHUNK_SECONDS`. A sweep whose
returned Dataset could not fit in the machine's RAM is refused here, before it runs.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from .observe import kept

if TYPE_CHECKING:
    from .chunks import ChunkJob

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

#: With a store, a chunk spans enough blocks to compute for about this long: each chunk's write
#: costs a few milliseconds per variable whatever its size, which on a cheap landscape (the 2-D
#: valley computes a block in about 20 ms) would otherwise take longer than the computing.
STORE_CHUNK_SECONDS = 0.5

#: A store sweep of fewer blocks than this is not timed: its store chunks are its blocks.
MIN_BLOCKS_TIMED = 8


@dataclasses.dataclass(frozen=True)
class Plan:
    """A sweep's trajectories cut into chunks of ``chunk``, each computed as blocks of
    ``block`` (one compiled call each; ``chunk`` is a whole number of blocks).

    Chunk ``c`` is trajectories ``c * chunk`` to ``(c + 1) * chunk`` of the flat grid (C
    order); it is the unit that is written to a store, resumed and given to a Ray task.
    """

    total: int
    chunk: int
    block: int
    #: what one compiled call returns, by variable (trajectories first)
    out_info: dict[str, jax.ShapeDtypeStruct] = dataclasses.field(
        default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.chunk % self.block:
            raise ValueError(f"a chunk of {self.chunk} is not a whole number of blocks of "
                             f"{self.block}")

    @property
    def n_chunks(self) -> int:
        return math.ceil(self.total / self.chunk)

    def bounds(self, index: int) -> tuple[int, int]:
        """The trajectories ``[start, stop)`` of chunk ``index``."""
        return index * self.chunk, min((index + 1) * self.chunk, self.total)

    def blocks(self, index: int) -> range:
        """The first trajectory of each block of chunk ``index``."""
        start, stop = self.bounds(index)
        return range(start, stop, self.block)

    def with_chunk(self, chunk: int) -> Plan:
        """The same blocks in chunks of ``chunk`` (a store being resumed keeps its own); a
        chunk that is not a whole number of blocks is computed as one block."""
        block = self.block if chunk % self.block == 0 else chunk
        return Plan(self.total, chunk, block, self.out_info)


def make(
    job: ChunkJob,
    devices: Sequence[jax.Device],
    *,
    chunk_size: int | None,
    max_memory: int,
    records: bool,
    new_store: bool,
) -> Plan:
    """The plan of ``job`` on ``devices``: see the module's rules."""
    n_dev, total = len(devices), job.experiment.total
    whole = math.ceil(total / n_dev) * n_dev
    chunk = math.ceil(min(chunk_size or whole, whole) / n_dev) * n_dev
    cpu = job.layout_for(devices).cpu
    if chunk_size is None and cpu:
        # Larger chunks run no faster on CPU, and the first program compiled is then usually
        # the one that runs (see ``CPU_FIRST_CHUNK_PER_DEVICE``).
        chunk = min(chunk, n_dev * CPU_FIRST_CHUNK_PER_DEVICE)
    compiled_for = job.padded(chunk, devices)
    program = job.program(devices, compiled_for)
    check_returned_fits(job, program, records)
    if chunk_size is None:
        chunk = min(chunk, _block_for_budget(job, devices, program, compiled_for, max_memory))
        if cpu:  # on CPU, chunks whose working set stays in cache run fastest
            chunk = min(chunk, chunk_for_cache(program, compiled_for, n_dev))
    block = chunk
    if new_store and chunk_size is None and total >= MIN_BLOCKS_TIMED * block:
        # A new store's chunk spans as many blocks as compute in STORE_CHUNK_SECONDS, so that
        # its write does not cost more than its computing (the first block, timed, is
        # recomputed); a store being resumed keeps its own chunk.
        chunk = store_chunk(block, job.block_seconds(devices, block), total)
    out_info = {name: jax.ShapeDtypeStruct(s.shape, s.dtype)  # no shardings: it pickles
                for name, s in program.out_info.items()}
    return Plan(total, chunk, block, out_info)


def _block_for_budget(job: ChunkJob, devices: Sequence[jax.Device], program: Any,
                      compiled_for: int, max_memory: int) -> int:
    """The most trajectories a block may have within ``max_memory``, judged from ``program``
    (compiled for ``compiled_for``); a budget too small for the fewest is refused."""
    n_dev = len(devices)
    if program_bytes(program, n_dev) <= max_memory:
        return compiled_for
    per_trajectory = program_bytes(program, n_dev) / compiled_for
    fewest = job.padded(n_dev, devices)
    if per_trajectory * fewest > max_memory:  # an underestimate: the shared part is spread
        raise ValueError(
            f"`max_memory` = {max_memory:,} bytes is less than a compiled call of the "
            f"fewest trajectories ({fewest} on {n_dev} device(s)) needs, about "
            f"{math.ceil(per_trajectory * fewest):,} bytes: "
            + _fewer_records(job, fewest, max_memory, per_trajectory * fewest))
    return chunk_for_budget(per_trajectory, n_dev, max_memory,
                            pad=lambda n: job.padded(n * n_dev, devices) // n_dev)


#: Records every trajectory has, whatever is observed: ``loss_last`` and ``loss_mean``.
MIN_RECORDS = 2


def check_records_fit(experiment: Any, devices: Sequence[jax.Device], fewest: int,
                      max_memory: int, records: bool) -> None:
    """Refuse, before anything compiles, what the sweep's records (and the trajectories'
    number) make impossible whatever the program: a compiled call of the ``fewest``
    trajectories (a block of one trajectory per device, padded) whose records alone exceed
    ``max_memory``, or a returned Dataset beyond the machine's RAM. Both are lower bounds,
    checked again from the compiled program."""
    steps, every = experiment.steps, experiment.observe.record_every
    windows, itemsize = steps // every, experiment.dtype.itemsize
    per_trajectory = MIN_RECORDS * windows * itemsize  # the records of one trajectory
    ram, total = machine_ram(), experiment.total
    returned = total * ((per_trajectory if records else 0) + 1)  # + the regime, at least
    if ram is not None and returned > ram:
        raise ValueError(
            f"the Dataset this sweep returns would hold at least {returned / 1e9:,.1f} GB "
            f"({returned // total:,} bytes for each of {total:,} trajectories), more than this "
            f"machine's {ram / 1e9:.1f} GB of RAM: "
            + ("record less often (`record_every`), keep the records in the store alone "
               "(`records=False`), or sweep the grid in parts" if records
               else "sweep the grid in parts"))
    if fewest * per_trajectory > max_memory:
        raise ValueError(_records_too_large(experiment, devices, fewest, max_memory))


def _records_too_large(experiment: Any, devices: Sequence[jax.Device], fewest: int,
                       max_memory: int) -> str:
    """Why the records do not fit ``max_memory``: led by the records when even the default
    budget could not hold them, by ``max_memory`` when it is the small one."""
    steps, every = experiment.steps, experiment.observe.record_every
    windows, itemsize = steps // every, experiment.dtype.itemsize
    need = fewest * MIN_RECORDS * windows * itemsize
    # the most windows that fit in half the budget, and the fewest records that give them
    most = max_memory // 2 // (fewest * MIN_RECORDS * itemsize)
    fewer = next((d for d in _divisors(steps) if d > every and steps // d <= most), None)
    records = (f"{windows:,} record windows (`steps` = {steps:,} / `record_every` = "
               f"{every:,}) take {need:,} bytes in a compiled call of the fewest trajectories "
               f"({fewest} on {len(devices)} device(s))")
    remedy = (f"record less often (`record_every` = {fewer:,} keeps {steps // fewer:,} "
              "windows) or raise `max_memory`" if fewer else "raise `max_memory`")
    if need > default_memory_budget(devices):
        return f"{records}, more than `max_memory` = {max_memory:,} bytes: {remedy}"
    return (f"`max_memory` = {max_memory:,} bytes is less than a compiled call of the fewest "
            f"trajectories ({fewest} on {len(devices)} device(s)) holds in its records alone: "
            f"{windows:,} record windows take {need:,} bytes; {remedy}")


def _fewer_records(job: ChunkJob, fewest: int, max_memory: int, need: float) -> str:
    """The remedy for a compiled call over ``max_memory``: record less often, when the
    records are most of what it ``need``s and recording less often can make it fit."""
    experiment = job.experiment
    steps, every = experiment.steps, experiment.observe.record_every
    itemsize = experiment.dtype.itemsize
    records = fewest * MIN_RECORDS * (steps // every) * itemsize
    if 2 * records < need:
        return "raise it"
    most = (max_memory - (need - records)) // (fewest * MIN_RECORDS * itemsize)
    fewer = next((d for d in _divisors(steps) if d > every and steps // d <= most // 2), None)
    if fewer is None:
        return "raise it"
    return (f"{records:,} of them hold its {steps // every:,} record windows: record less "
            f"often (`record_every` = {fewer:,} keeps {steps // fewer:,}) or raise it")


def _divisors(n: int) -> list[int]:
    """The divisors of ``n``, smallest first."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def check_returned_fits(job: ChunkJob, program: Any, records: bool) -> None:
    """Refuse a sweep whose returned Dataset would not fit in the machine's RAM, rather than
    have it killed for memory at the end of a long run."""
    total = job.experiment.total
    shapes = kept(program.out_info, records)
    returned = total * sum(int(np.prod(s.shape[1:], dtype=np.int64)) * s.dtype.itemsize
                           for s in shapes.values())
    ram = machine_ram()
    if ram is not None and returned > ram:
        raise ValueError(
            f"the Dataset this sweep returns would hold {returned / 1e9:.1f} GB "
            f"({returned // total:,} bytes for each of {total:,} trajectories), more than this "
            f"machine's {ram / 1e9:.1f} GB of RAM: "
            + ("record less often (`record_every`), keep the records in the store alone "
               "(`records=False`), or sweep the grid in parts" if records
               else "sweep the grid in parts"))


_MEMORY: dict[int, tuple[Any, Any]] = {}  # XLA's memory analysis, by compiled program


def memory_analysis(program: Any) -> Any:
    """XLA's memory analysis of a compiled program, computed once per program (it takes
    milliseconds, which a small sweep would pay on every call)."""
    if id(program) not in _MEMORY:
        if len(_MEMORY) >= 64:  # as many as the program cache keeps: no program outlives both
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


def chunk_for_cache(program: Any, size: int, n_devices: int,
                    cache_bytes: int = CPU_CACHE_BYTES) -> int:
    """Trajectories per chunk whose temporaries fit ``cache_bytes`` per device: ``n_devices``
    times a power of two, at least 64 per device; ``program`` is compiled for ``size``."""
    per_trajectory = memory_analysis(program).temp_size_in_bytes / max(size // n_devices, 1)
    per_device = cache_bytes / max(per_trajectory, 1.0)
    return n_devices * (1 << max(6, int(math.log2(max(per_device, 1.0)))))


def store_chunk(block: int, block_seconds: float, total: int,
                seconds: float = STORE_CHUNK_SECONDS) -> int:
    """Trajectories per store chunk: the most whole blocks of ``block`` trajectories that
    compute within ``seconds`` at ``block_seconds`` each, at least one, and no more than the
    grid needs."""
    blocks = max(1, int(seconds / max(block_seconds, 1e-9)))
    return block * min(blocks, max(1, math.ceil(total / block)))


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


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


def parse_memory(value: int | str) -> int:
    """Bytes from an integer or a size such as ``"512MiB"``, ``"4GiB"`` or ``"2GB"``."""
    if isinstance(value, bool):
        raise ValueError(f"`max_memory` must be a number of bytes or a size like '4GiB', "
                         f"got {value!r}")
    if isinstance(value, int | np.integer | float) and np.isfinite(value) and value > 0:
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", value)
        if match and match.group(2).lower() in _UNITS and float(match.group(1)) > 0:
            return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    raise ValueError(f"`max_memory` must be a number of bytes > 0 or a size like '4GiB', "
                     f"got {value!r}")
