"""What every landscape shares: the base class, the registry, and a fast small sum."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

import jax
import jax.numpy as jnp

from .._fields import FieldsMixin, Registry, sum_small  # noqa: F401 - landscapes use it

Params = Any  # an array or a pytree of arrays
L = TypeVar("L", bound="Landscape")


def float_dtype(*fields: Any) -> Any:
    """The floating-point type to build a landscape's values in, from its float ``fields``.

    In a sweep the fields arrive cast to the sweep's dtype, so starts and data come out in it
    (float64 when asked, with nothing rounded to float32 first); for plain Python numbers it
    is JAX's default float type (float32 unless x64 is enabled).
    """
    return jnp.result_type(float, *fields)

class Landscape(FieldsMixin):
    """Base class of every landscape: a loss function with a default starting point.

    Subclasses are declared with ``@register("kebab-name")``, which makes them frozen
    keyword-only dataclasses registered as JAX pytrees, and define ``loss``, ``init``,
    ``minimum`` and ``_validate``.
    """

    name: ClassVar[str]
    #: Whether :meth:`init` draws the start from its key, so that trajectories of different
    #: seeds start apart. ``True`` unless a family declares a fixed start (what is not known
    #: is not claimed): a ``seed`` axis over a fixed start, with no noise, is warned of.
    random_start: ClassVar[bool] = True
    #: What an OSCILLATORY trajectory does here, in the figures' words: a landscape with a
    #: valley says "bouncing across the valley"; the others, that the steps reverse.
    oscillation_words: ClassVar[str] = "zig-zag: successive steps reverse"
    #: What the two axes of its paths' pictures are, in words (its two coordinates, or the
    #: two vectors of :meth:`view_plane`); none by default.
    view_words: ClassVar[tuple[str, ...]] = ()

    def loss(self, params: Params) -> jax.Array:
        """The loss at ``params``: a scalar, pure, and jit/vmap/grad friendly."""
        raise NotImplementedError

    def init(self, key: jax.Array) -> Params:
        """The default starting point (``key`` is ignored where the family has a fixed one)."""
        raise NotImplementedError

    @property
    def minimum(self) -> float | None:
        """The global minimum value where known, else ``None``."""
        return None

    def edge_curvature(self) -> tuple[str, float] | None:
        r"""The curvature that the closed-form stability edges use here, where they apply.

        ``None`` (the default): no closed form applies. Otherwise ``(field, per_unit)``: the
        field that scales the steepest curvature and the curvature per unit of it, so that
        the Hessian's largest eigenvalue is :math:`\lambda` = ``getattr(self, field) *
        per_unit`` everywhere on the landscape. An optimizer's edges
        (:class:`lrscape.theory.Edges`) then sit at the rates :math:`\eta = e(\beta) /
        \lambda`, gradient descent diverging beyond :math:`\eta\lambda = 2`; a grid axis over
        ``field`` moves them, along the curve :math:`\eta = e(\beta) / (\text{field} \cdot
        \text{per\_unit})`, which the phase diagram draws.

        Declare it only where that eigenvalue is constant, as on a quadratic: where the
        curvature varies from point to point, the edges of a quadratic do not hold.
        """
        return None

    def minimizer(self) -> Params | None:
        """Where the global minimum is (parameters shaped as :meth:`init`'s), where known;
        ``None`` otherwise (the default: what is not known is not claimed). Pictures of paths
        mark it."""
        return None

    def view_plane(self, start: Params) -> Any:
        """The plane a picture of paths from ``start`` should show, as two flat vectors (rows,
        in the order of ``jax.flatten_util.ravel_pytree``), or ``None`` (the default) to let
        the picture use the Hessian's two top eigenvectors at the start
        (:mod:`lrscape.paths`). Declared where those miss what moves, as on a valley with
        several wall coordinates, whose equal wall curvatures leave the floor out of the top
        two."""
        del start
        return None

    def parameter_groups(self, params: Params) -> Params | None:
        """Names of the parameter groups, for per-group hyperparameters.

        A pytree shaped like ``params`` with a group name (a string) at every leaf, such as
        ``"input"`` and ``"output"`` for the layers of a network; ``None`` when the landscape
        has one group. Grid axes named ``"learning_rate@input"`` then set a hyperparameter for
        one group only.
        """
        return None

    def group_names(self) -> tuple[str, ...]:
        """The parameter groups' names, in the order of the parameters' leaves (``()``: one)."""
        shapes = jax.eval_shape(lambda: self.init(jax.random.key(0)))
        labels = self.parameter_groups(shapes)
        if labels is None:
            return ()
        return tuple(dict.fromkeys(jax.tree.leaves(labels)))

    def prepare(self: L) -> L:
        """This landscape with its seeded data materialised, once per trajectory.

        The sweep calls it after setting the swept fields, so data drawn from a traced seed
        is drawn once per trajectory, not once per step. Most landscapes have nothing to do.
        """
        return self


REGISTRY: Registry[Landscape] = Registry("landscape", base=Landscape, required=("loss", "init"))
register = REGISTRY.register


class UniformStart:
    """Mixin for the families that start each of their ``dim`` coordinates at ``start``.

    Put it before :class:`Landscape` among the bases; it supplies ``init``.
    """

    random_start: ClassVar[bool] = False

    def init(self, key: jax.Array) -> jax.Array:
        del key  # deterministic
        return jnp.full((self.dim,), self.start, dtype=float_dtype(self.start))


def get(name: str, **fields: Any) -> Landscape:
    """Build the landscape registered as ``name`` (kebab-case) with the given fields."""
    return REGISTRY.get(name, **fields)


def available() -> tuple[str, ...]:
    """Registered landscape names, sorted."""
    return REGISTRY.available()
