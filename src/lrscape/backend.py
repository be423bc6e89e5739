"""The layout of a sweep's programs for the devices they run on, chosen once per device set.

:func:`for_devices` returns :data:`IDENTITY` (GPUs and other accelerators: XLA fuses a step's
sibling outputs into one kernel there by itself) or :data:`CPU`, which applies the rewrites of
:mod:`lrscape.layout`: a small parameter vector carried as separate scalars, a step's scalar
outputs written in one loop, two steps per scan iteration, and each device's share of a chunk
kept off multiples of 4 kB. :mod:`lrscape.simulate` calls the chosen layout unconditionally;
no other module asks which kind of device it runs on.

Every layout computes the same operations on the same numbers; only the loops XLA emits
change (the gradient's additions on columns may round differently from a reverse pass over
the stacked vector).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from . import layout

#: On CPU, a chunk whose per-device arrays would be a multiple of 4 kB long gets this many more
#: bytes per array (see :meth:`Layout.per_device`).
CPU_SKEW_BYTES = 64


@dataclasses.dataclass(frozen=True)
class Params:
    """How the parameters are carried through the scan: as they are, or (``columns``) a
    vector as a tuple of scalars, one per coordinate, stacked where the landscape sees it."""

    columns: bool = False

    def carry(self, params: Any) -> Any:
        """The carried form of ``params`` (a vector, or a pytree)."""
        return tuple(params) if self.columns else params

    def whole(self, carried: Any) -> Any:
        """``params`` as the landscape takes them."""
        return jnp.stack(carried) if self.columns else carried

    def split(self, whole: Any) -> Any:
        """A value shaped like the landscape's parameters, in the carried form."""
        return tuple(whole) if self.columns else whole

    def value_and_grad(self, loss: Callable[[Any], jax.Array], carried: Any
                       ) -> tuple[jax.Array, Any]:
        """The loss and its gradient, the gradient in the carried form."""
        if self.columns:
            return layout.value_and_grad_columns(loss, carried)
        return jax.value_and_grad(loss)(carried)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The identity layout: programs as written (for GPUs and other accelerators)."""

    cpu: bool = False

    @property
    def unroll(self) -> int:
        """Steps per iteration of the innermost scan. On CPU two, so that XLA writes each
        step's outputs straight into the other's buffers instead of copying them back into
        the carry."""
        return 2 if self.cpu else 1

    def params(self, params: Any, *, elementwise: bool, stochastic: bool,
               per_group: bool) -> Params:
        """How to carry ``params``: on CPU as columns where :func:`lrscape.layout.use_columns`
        allows it (a small vector, an optimizer that treats every coordinate alike, ...)."""
        columns = self.cpu and layout.use_columns(
            params, elementwise=elementwise, stochastic=stochastic, per_group=per_group)
        return Params(columns=columns)

    def finish_step(self, new: Any, old: Any) -> Any:
        """The scan step's new carry; on CPU with its scalars written in one loop
        (:func:`lrscape.layout.write_in_one_loop`)."""
        return layout.write_in_one_loop(new, old) if self.cpu else new

    def per_device(self, trajectories: int, itemsize: int) -> int:
        """Trajectories per device for a share of ``trajectories``; on CPU a few more where an
        array of them would be a multiple of 4 kB long.

        The step's single loop reads and writes some twenty arrays at the same index. When
        they lie a multiple of 4 kB apart, the core takes each load for a possible reload of an
        earlier store to another array ("4K aliasing") and the loop runs 1.5-2x slower;
        :data:`CPU_SKEW_BYTES` more per array breaks the pattern.
        """
        if self.cpu and trajectories * itemsize % 4096 == 0:
            return trajectories + max(CPU_SKEW_BYTES // itemsize, 1)
        return trajectories


IDENTITY = Layout(cpu=False)
CPU = Layout(cpu=True)


def for_devices(devices: Sequence[jax.Device]) -> Layout:
    """:data:`CPU` for a set of CPU devices, else :data:`IDENTITY` (the rewrites were measured
    on CPU alone). A Ray task chooses for its own devices, so a task on a GPU gets the GPU
    layout even when the sweep was planned on a CPU."""
    return CPU if all(d.platform == "cpu" for d in devices) else IDENTITY
