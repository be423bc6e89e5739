"""The narrow valley: steep walls around a slowly declining floor."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, static_field
from ._base import Landscape, float_dtype, register, sum_small


def _floor(slope: jax.Array, width: jax.Array, x0: jax.Array) -> jax.Array:
    r"""The valley floor :math:`s(\sqrt{x_0^2 + \delta^2} - \delta)`: slope s, rounded at 0."""
    return slope * (jnp.sqrt(x0 * x0 + width**2) - width)


def _walls(curvature: jax.Array, growth: jax.Array, start: jax.Array, x0: jax.Array) -> jax.Array:
    r"""Wall curvature :math:`\kappa_0 e^{g (a - x_0)}` at floor position ``x0``."""
    return curvature * jnp.exp(growth * (start - x0))


#: What an OSCILLATORY trajectory does in a valley: it jumps from wall to wall.
VALLEY_WORDS = "bouncing across the valley"
#: The axes of a valley's pictures: its floor, and the direction across it.
VALLEY_AXES = ("along the floor", "across the valley")


@register("narrow-valley")
class NarrowValley(Landscape):
    r"""Steep walls around a floor that declines slowly along one direction.

    With :math:`x = (x_0, x_1, \dots, x_{n-1})`, :math:`x_0` running along the floor and the
    other coordinates across it,

    .. math::

        f(x) = s\left(\sqrt{x_0^2 + \delta^2} - \delta\right)
               + \tfrac12\,\kappa(x_0) \sum_{i=1}^{n-1} x_i^2,
        \qquad \kappa(x_0) = \kappa_0\, e^{g\,(a - x_0)} .

    The floor falls with slope :math:`s` (``floor_slope``) towards its minimum at
    :math:`x_0 = 0`, where it rounds off over a width :math:`\delta` (``floor_width``). The walls
    have curvature :math:`\kappa_0` (``wall_curvature``) at the start :math:`x_0 = a`
    (``start``); with ``wall_growth`` :math:`g > 0` they narrow on the way down (curvature
    :math:`\kappa_0 e^{g a}` at the minimum), with :math:`g < 0` they widen. A learning rate
    stable on the walls at the start (:math:`\eta\kappa_0 < 2` for gradient descent) can
    therefore become unstable further down. The minimum is :math:`f = 0` at :math:`x = 0`.

    The trajectory starts at :math:`x_0 = a` on the floor, displaced by ``wall_offset`` up each
    wall. This is the picture behind "the loss bounces between the valley's walls while slowly
    descending": a large rate jumps from wall to wall while still moving along the floor.

    Fields:
        dim: number of coordinates, >= 2 (one along the floor, ``dim - 1`` across).
        wall_curvature: :math:`\kappa_0 > 0`, curvature across the valley at the start.
        floor_slope: :math:`s \ge 0`, how fast the floor declines.
        floor_width: :math:`\delta > 0`, where the floor rounds off into its minimum.
        wall_growth: :math:`g`, exponential rate at which the walls steepen along the floor.
        start: :math:`a`, the starting position along the floor.
        wall_offset: the starting displacement across the valley.
    """

    random_start: ClassVar[bool] = False
    oscillation_words: ClassVar[str] = VALLEY_WORDS
    view_words: ClassVar[tuple[str, ...]] = VALLEY_AXES

    dim: int = static_field(2)
    wall_curvature: float = 100.0
    floor_slope: float = 0.1
    floor_width: float = 1.0
    wall_growth: float = 0.0
    start: float = 10.0
    wall_offset: float = 1.0

    def _validate(self) -> None:
        check_int(self, "dim", 2)
        check_scalar(self, "wall_curvature", positive=True)
        check_scalar(self, "floor_slope", nonnegative=True)
        check_scalar(self, "floor_width", positive=True)
        for name in ("wall_growth", "start", "wall_offset"):
            check_scalar(self, name)

    def wall_curvature_at(self, x0: jax.Array) -> jax.Array:
        """:math:`\\kappa(x_0)`, the curvature across the valley at floor position ``x0``."""
        return _walls(self.wall_curvature, self.wall_growth, self.start, x0)

    def edge_curvature(self) -> tuple[str, float] | None:
        r"""``("wall_curvature", 1.0)`` for walls of constant curvature (``wall_growth`` = 0):
        across the valley the Hessian's eigenvalue is then :math:`\kappa_0` everywhere, and
        the floor, of curvature at most :math:`s/\delta`, is taken to be much flatter.
        Walls that steepen or widen along the floor have no single curvature: ``None``."""
        return ("wall_curvature", 1.0) if self.wall_growth == 0 else None

    def loss(self, params: jax.Array) -> jax.Array:
        x0, walls = params[..., 0], params[..., 1:]
        floor = _floor(self.floor_slope, self.floor_width, x0)
        return floor + 0.5 * self.wall_curvature_at(x0) * sum_small(walls * walls)

    def init(self, key: jax.Array) -> jax.Array:
        del key  # deterministic
        dtype = float_dtype(self.start, self.wall_offset)
        walls = jnp.full((self.dim - 1,), self.wall_offset, dtype=dtype)
        return jnp.concatenate([jnp.full((1,), self.start, dtype=dtype), walls])

    @property
    def minimum(self) -> float:
        return 0.0

    def minimizer(self) -> np.ndarray:
        """The origin: the floor's lowest point, between the walls."""
        return np.zeros(self.dim)

    def view_plane(self, start: jax.Array) -> np.ndarray:
        """The floor :math:`x_0` and the start's direction across the valley: the walls are
        equally steep, so the Hessian's top eigenvectors would all lie across the valley,
        and the start's offset is the wall direction it bounces along."""
        across = np.asarray(start, np.float64)[1:]
        across = across if np.any(across) else np.eye(self.dim - 1)[0]
        floor = np.eye(self.dim)[0]
        return np.stack([floor, np.concatenate([[0.0], across / np.linalg.norm(across)])])


@register("twisted-valley")
class TwistedValley(Landscape):
    r"""A narrow valley whose steep direction turns, and whose walls steepen, along the floor.

    Three coordinates: :math:`x_0` along the floor, :math:`(x_1, x_2)` across it. Across the
    valley the walls are anisotropic, steep along :math:`u` and gentle along :math:`v`, and the
    pair turns with the position on the floor:

    .. math::

        f(x) = s\left(\sqrt{x_0^2 + \delta^2} - \delta\right)
             + \tfrac12\,\kappa(x_0)\, u^2 + \tfrac12\,\mu\, v^2,
        \qquad
        \begin{pmatrix} u \\ v \end{pmatrix} = R\big(\theta(x_0)\big)
        \begin{pmatrix} x_1 \\ x_2 \end{pmatrix},

    with :math:`R(\theta)` the rotation by :math:`\theta(x_0) = \tau\,(a - x_0)` and
    :math:`\kappa(x_0) = \kappa_0 e^{g (a - x_0)}`. Moving down the floor, the direction of
    highest curvature rotates (landscape shift: successive top Hessian eigenvectors overlap
    less) and the walls steepen, so a rate stable at the start (:math:`\eta\kappa_0 < 2`) can
    become unstable further down, and the instability throws the iterate back up the floor to
    flatter ground (landscape flattening), as in Wang & Roberts, "The instabilities of large
    learning rate training: a loss landscape view" (2023).

    Fields:
        wall_curvature: :math:`\kappa_0 > 0`, the steep walls' curvature at the start.
        minor_curvature: :math:`\mu > 0`, the gentle direction's curvature.
        floor_slope: :math:`s \ge 0`; floor_width: :math:`\delta > 0` (as in ``narrow-valley``).
        wall_growth: :math:`g`, how fast the steep walls steepen down the floor.
        twist: :math:`\tau`, radians the walls turn per unit of floor.
        start: :math:`a`, the starting position on the floor.
        wall_offset: the starting displacement across the valley (in both coordinates).
    """

    random_start: ClassVar[bool] = False
    oscillation_words: ClassVar[str] = VALLEY_WORDS
    view_words: ClassVar[tuple[str, ...]] = VALLEY_AXES

    wall_curvature: float = 50.0
    minor_curvature: float = 2.0
    floor_slope: float = 0.5
    floor_width: float = 1.0
    wall_growth: float = 0.15
    twist: float = 0.3
    start: float = 10.0
    wall_offset: float = 0.5

    def _validate(self) -> None:
        check_scalar(self, "wall_curvature", positive=True)
        check_scalar(self, "minor_curvature", positive=True)
        check_scalar(self, "floor_slope", nonnegative=True)
        check_scalar(self, "floor_width", positive=True)
        for name in ("wall_growth", "twist", "start", "wall_offset"):
            check_scalar(self, name)

    def wall_curvature_at(self, x0: jax.Array) -> jax.Array:
        """:math:`\\kappa(x_0)`, the steep walls' curvature at floor position ``x0``."""
        return _walls(self.wall_curvature, self.wall_growth, self.start, x0)

    def steep_direction_at(self, x0: jax.Array) -> jax.Array:
        """The unit vector (in x1, x2) of highest wall curvature at floor position ``x0``."""
        theta = self.twist * (self.start - x0)
        return jnp.stack([jnp.cos(theta), -jnp.sin(theta)], axis=-1)

    def loss(self, params: jax.Array) -> jax.Array:
        x0, x1, x2 = params[..., 0], params[..., 1], params[..., 2]
        theta = self.twist * (self.start - x0)
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        u = cos * x1 - sin * x2
        v = sin * x1 + cos * x2
        floor = _floor(self.floor_slope, self.floor_width, x0)
        return floor + 0.5 * self.wall_curvature_at(x0) * u * u + 0.5 * self.minor_curvature * v * v

    def init(self, key: jax.Array) -> jax.Array:
        del key  # deterministic
        dtype = float_dtype(self.start, self.wall_offset)
        return jnp.array([1.0, 0.0, 0.0], dtype) * self.start + jnp.array(
            [0.0, 1.0, 1.0], dtype) * self.wall_offset

    @property
    def minimum(self) -> float:
        return 0.0

    def minimizer(self) -> np.ndarray:
        """The origin: the floor's lowest point, between the walls."""
        return np.zeros(3)

    def view_plane(self, start: jax.Array) -> np.ndarray:
        """The floor :math:`x_0` and the steep wall direction :math:`u` at the start."""
        steep = np.asarray(self.steep_direction_at(jnp.asarray(start)[0]), np.float64)
        return np.array([[1.0, 0.0, 0.0], [0.0, *steep]])
