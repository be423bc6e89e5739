"""How a trajectory's parameters are carried through the loop: small arrays as loose scalars.

Under ``vmap`` a parameter of shape ``(2,)`` becomes a ``(batch, 2)`` array whose two entries
per trajectory sit side by side in memory. Every per-trajectory reduction over it (the tracker's
dot products, broadcasting a per-trajectory mask over it) then reads the two columns with a
stride, and XLA's CPU backend emits such loops without vector instructions: on the 2-D valley
those loops cost more than the dynamics. Carried instead as two scalars, each is a contiguous
``(batch,)`` array and every loop over it vectorises.

:class:`ParamLayout` does the conversion. The landscape still sees its own parameter shapes (the
scalars are stacked back, and the gradient flows through the stack); the optimizer and the
tracker see the scalars. That is only the same computation when the optimizer treats every
entry on its own (SGD, momentum, Adam, ...): one that takes norms per parameter array (LAMB,
LARS) would see different arrays, so :func:`lrscape.sweep` only splits for optimizers known to
be elementwise.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

#: Parameter arrays with more than one and at most this many entries are carried as scalars.
MAX_SPLIT_SIZE = 4


class ParamLayout:
    """Converts parameters between the landscape's shapes and the loop's carry.

    Args:
        params: the parameters (any pytree of arrays) in the landscape's shapes.
        split: carry small arrays as scalars; ``False`` carries everything as it is.
    """

    def __init__(self, params: Any, split: bool) -> None:
        leaves, self._treedef = jax.tree.flatten(params)
        self._shapes = [np.shape(x) for x in leaves]
        self._split = [split and 1 < int(np.prod(s)) <= MAX_SPLIT_SIZE for s in self._shapes]

    @property
    def active(self) -> bool:
        """Whether any array is carried as scalars."""
        return any(self._split)

    def carry(self, tree: Any) -> Any:
        """``tree`` (shaped like the parameters) as the loop carries it."""
        if not self.active:
            return tree
        leaves = self._treedef.flatten_up_to(tree)
        return self._treedef.unflatten([
            tuple(jnp.reshape(x, (-1,))[i] for i in range(int(np.prod(shape)))) if split else x
            for x, shape, split in zip(leaves, self._shapes, self._split, strict=True)])

    def join(self, carried: Any) -> Any:
        """The carried parameters back in the landscape's shapes."""
        if not self.active:
            return carried
        parts = self._treedef.flatten_up_to(carried)
        return self._treedef.unflatten([
            jnp.stack(part).reshape(shape) if split else part
            for part, shape, split in zip(parts, self._shapes, self._split, strict=True)])
