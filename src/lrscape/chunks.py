"""A sweep's compiled work: any block of trajectories, computable in any process.

A :class:`ChunkJob` holds what a process needs to compute any trajectories of an
:class:`~lrscape.experiment.Experiment` on its own devices (the compiled program's
:class:`~lrscape.simulate.Spec`, the landscape, schedule, fixed hyperparameters and start as
NumPy values, and the path plane where paths are recorded) and nothing that belongs to one
process (no devices, no compiled programs), so
it pickles: the local executor uses it in place, and Ray ships it once to every worker. How
the trajectories are cut into chunks and blocks is a :class:`~lrscape.plan.Plan`; writing them
to a store is the executor's business.

The inputs of trajectories ``start .. start + size - 1`` are computed from the axes alone, so
no process ever holds the whole flat grid. Each process pads a block to a multiple of its own
device count with at least :data:`MIN_PER_DEVICE` each (and as its layout asks:
:meth:`lrscape.backend.Layout.per_device`), repeating the last trajectory; the padding is cut
off before anything leaves the job. Every trajectory is a pure function of the job: computed
twice, anywhere, in any block of the same size, it gives the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import backend
from ._fields import cast_floats
from .experiment import Experiment
from .plan import Plan
from .simulate import Spec, compiled_chunk

#: Results of some trajectories: variable name -> values, trajectories first.
Values = dict[str, np.ndarray]

_PROGRAMS: dict[Any, Any] = {}  # compiled chunk programs, by Spec, shapes and shardings

#: The fewest trajectories a device computes in one program; a smaller share is padded. XLA
#: compiles a batch of one or two differently (a dimension of size one is dropped; the step's
#: single loop is emitted in another form), and its results then differ in the last bit from
#: those of any larger batch, so a chunk's numbers would depend on the chunk size.
MIN_PER_DEVICE = 4


def spec_of(experiment: Experiment) -> Spec:
    """What shapes the experiment's compiled program (for the identity layout)."""
    axes, optimizer = experiment.axes, experiment.optimizer
    return Spec(
        factory=optimizer.factory,
        options=tuple(sorted(optimizer.options.items())),
        optimizer_axes=tuple(a.field for a in axes if a.target == "optimizer"),
        landscape_axes=tuple((a.name, a.field) for a in axes if a.target == "landscape"),
        schedule_axes=tuple((a.name, a.field) for a in axes if a.target == "schedule"),
        steps=experiment.steps,
        thresholds=experiment.thresholds,
        dtype=experiment.dtype.name,
        # the plane's values are inputs of the program, so its choice is not part of it
        observe=dataclasses.replace(experiment.observe, path_plane="auto"),
        gradient_noise=experiment.adds_noise,
        noisy=experiment.noisy,
        elementwise=optimizer.elementwise,
    )


class ChunkJob:
    """One experiment, ready to compute any of its trajectories in any process."""

    def __init__(self, experiment: Experiment):
        self.experiment = experiment
        self.spec = spec_of(experiment)
        plane = experiment.plane
        self.shared = tuple(cast_floats(part, experiment.dtype) for part in (
            experiment.landscape, experiment.schedule, experiment.fixed_hyperparams(),
            experiment.x0, None if plane is None else (plane.origin, plane.basis)))
        self._placed: dict[Any, Any] = {}  # shared values on this process's devices
        self._programs: dict[Any, Any] = {}  # this process's compiled programs, by size

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_placed"] = {}  # device buffers and programs stay in the process that made them
        state["_programs"] = {}
        return state

    def inputs(self, start: int, size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The swept values and seeds of trajectories ``start .. start + size - 1`` (indices
        past the grid repeat its last trajectory)."""
        experiment = self.experiment
        dtype, axes, total = experiment.dtype, experiment.axes, experiment.total
        index = np.minimum(np.arange(start, start + size), total - 1)
        if experiment.points:  # the i-th trajectory takes every axis's i-th value
            position = (index,) * len(axes)
        else:
            position = np.unravel_index(index, tuple(len(a.values) for a in axes))
        swept, seeds = {}, np.full(size, experiment.seed, np.uint32)
        for axis, where in zip(axes, position, strict=True):
            values = axis.values[where]
            if axis.target == "seed":
                seeds = values.astype(np.uint32)
                continue
            # Optimizer hyperparameters and the noise are passed under their field names.
            name = axis.field if axis.target in ("optimizer", "noise") else axis.name
            swept[name] = values.astype(dtype)
        if self.spec.gradient_noise and "gradient_noise" not in swept:
            swept["gradient_noise"] = np.full(size, experiment.gradient_noise, dtype)
        return swept, seeds

    @staticmethod
    def layout_for(devices: Sequence[jax.Device]) -> backend.Layout:
        """The layout of programs for ``devices`` (:func:`lrscape.backend.for_devices`)."""
        return backend.for_devices(devices)

    def spec_for(self, devices: Sequence[jax.Device]) -> Spec:
        """The spec of the program for ``devices``: the layout follows the devices a process
        compiles for, so a Ray task on a GPU gets the GPU layout even when the sweep was
        planned on a CPU."""
        return self.spec._replace(layout=self.layout_for(devices))

    def padded(self, size: int, devices: Sequence[jax.Device]) -> int:
        """``size`` rounded up to a multiple of the number of ``devices``, with at least
        :data:`MIN_PER_DEVICE` trajectories each, as the devices' layout pads a share."""
        per_device = max(math.ceil(size / len(devices)), MIN_PER_DEVICE)
        itemsize = self.experiment.dtype.itemsize
        return self.layout_for(devices).per_device(per_device, itemsize) * len(devices)

    def program(self, devices: Sequence[jax.Device], size: int) -> Any:
        """The program for ``size`` trajectories sharded over ``devices``, compiled ahead of
        time (cached per process), so its memory analysis is known before anything runs and
        one executable serves every block."""
        local = (tuple(d.id for d in devices), size)
        if local in self._programs:
            return self._programs[local]
        shared, batched = self._placement(devices)
        x64 = self.experiment.dtype == np.float64
        with jax.enable_x64(x64):
            inputs = jax.device_put(self.inputs(0, size), batched)
        leaves, treedef = jax.tree.flatten((shared, inputs))
        spec = self.spec_for(devices)
        key = (spec, str(treedef),
               tuple((np.shape(x), str(x.dtype), str(getattr(x, "sharding", "")))
                     for x in leaves))
        if key not in _PROGRAMS:
            if len(_PROGRAMS) >= 64:
                _PROGRAMS.pop(next(iter(_PROGRAMS)))
            with jax.enable_x64(x64):
                _PROGRAMS[key] = compiled_chunk(spec).lower(*shared, *inputs).compile()
        self._programs[local] = _PROGRAMS[key]
        return self._programs[local]

    def _placement(self, devices: Sequence[jax.Device]) -> tuple[Any, NamedSharding]:
        key = tuple(d.id for d in devices)
        if key not in self._placed:
            mesh = Mesh(np.array(devices), ("batch",))
            replicated = NamedSharding(mesh, PartitionSpec())
            with jax.enable_x64(self.experiment.dtype == np.float64):
                shared = jax.device_put(self.shared, replicated)
            self._placed[key] = (shared, NamedSharding(mesh, PartitionSpec("batch")))
        return self._placed[key]

    def _block_runner(self, devices: Sequence[jax.Device], block: int) -> Callable[[int], Any]:
        """A function starting the block of trajectories from ``first`` on ``devices`` and
        returning its device outputs at once (JAX dispatches asynchronously)."""
        size = self.padded(block, devices)
        program = self.program(devices, size)
        shared, batched = self._placement(devices)
        x64 = self.experiment.dtype == np.float64

        def run(first: int) -> Any:
            with jax.enable_x64(x64):
                return program(*shared, *jax.device_put(self.inputs(first, size), batched))

        return run

    def launch(self, plan: Plan, index: int, devices: Sequence[jax.Device]) -> list[Any]:
        """Start chunk ``index`` on ``devices``, block by block, and return the blocks' device
        outputs at once."""
        run = self._block_runner(devices, plan.block)
        return [run(first) for first in plan.blocks(index)]

    def fetch(self, plan: Plan, index: int, outs: list[Any]) -> Values:
        """Chunk ``index``'s results on the host, padding removed, its blocks joined."""
        _, stop = plan.bounds(index)
        blocks = [{name: np.asarray(value)[: min(plan.block, stop - first)]
                   for name, value in jax.device_get(out).items()}
                  for first, out in zip(plan.blocks(index), outs, strict=True)]
        if len(blocks) == 1:
            return blocks[0]
        return {name: np.concatenate([b[name] for b in blocks]) for name in blocks[0]}

    def compute(self, plan: Plan, index: int,
                devices: Sequence[jax.Device] | None = None) -> Values:
        """Compute chunk ``index`` start to finish on ``devices`` (default: this process's
        local devices) and return it."""
        devices = devices or jax.local_devices()
        return self.fetch(plan, index, self.launch(plan, index, devices))

    def block_seconds(self, devices: Sequence[jax.Device], block: int) -> float:
        """Seconds one block of ``block`` trajectories takes on ``devices``, its program
        compiled: the first block, computed once and thrown away."""
        run = self._block_runner(devices, block)
        begin = time.perf_counter()
        jax.block_until_ready(run(0))
        return time.perf_counter() - begin
