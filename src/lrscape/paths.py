r"""Paths: where each trajectory goes, seen in a plane of parameter space fixed for a sweep.

A sweep run with ``Observe(path_every=k)`` records, every ``k`` updates and at the start, the
iterate's coordinates in a :class:`Plane` and its distance from that plane:

.. math::

    u_i(t) = e_i^\top (x_t - o), \qquad
    d(t) = \Big\lVert x_t - o - \sum_i u_i(t)\, e_i \Big\rVert ,

with :math:`o` the plane's origin and :math:`e_1, e_2` its orthonormal basis (one vector on a
one-dimensional landscape). The plane is chosen once per sweep, before anything compiles
(:func:`resolve`):

- on a landscape of one or two coordinates, the coordinates themselves (:math:`o = 0`, the
  basis the unit vectors), so the path *is* the iterate;
- else the plane the landscape declares for pictures of its paths
  (:meth:`lrscape.landscapes.Landscape.view_plane`: a valley's floor and the start's wall
  direction), through the start;
- else (``"hessian"``, also on two coordinates when asked for) the two top eigenvectors of
  the Hessian at the start, through the start: the directions in which a large learning rate
  first bounces (a repeated eigenvalue gives the gradient's part in its eigenspace);
- or a :class:`Plane` the user gives.

:math:`d(t)` says how much the picture hides. The plane is stored with the sweep (the
coordinates ``path_origin`` and ``path_basis``), so a store's paths can be drawn over the loss
on that plane (:func:`loss_surface`) in another process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .landscapes import Landscape

#: How a plane was chosen, by the names :class:`Plane` records in ``kind``.
KINDS = {
    "coordinates": "the landscape's coordinates",
    "landscape": "the plane the landscape declares, through the start",
    "hessian": "the two top Hessian eigenvectors at the start, through the start",
    "given": "a plane given by the user",
}
#: Dense Hessians (and ``numpy.linalg.eigh``) up to this many parameters; Lanczos beyond.
DENSE_HESSIAN_MAX = 1024
#: Lanczos steps for the top two eigenvectors of a larger Hessian.
LANCZOS_ITERS = 80


class Plane:
    """A plane (or, on a one-dimensional landscape, a line) of parameter space.

    Args:
        basis: the spanning vectors as rows, ``(2, n)`` (or ``(1, n)``), in the order of the
            flattened parameters (``jax.flatten_util.ravel_pytree``); orthonormalised here
            (Gram-Schmidt: the first vector keeps its direction).
        origin: a point of the plane, ``(n,)``; ``None``: the sweep's start.
        kind: how it was chosen (a key of :data:`KINDS`); ``"given"`` for a user's plane.

    Planes compare and hash by their values, so a sweep's observation (which holds one) is
    the same for the same plane.

    >>> plane = Plane([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    >>> plane.basis.tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    >>> Plane([[1.0, 0.0], [2.0, 0.0]])
    Traceback (most recent call last):
    ...
    ValueError: `path_plane`: the basis vectors must be linearly independent, ...
    """

    def __init__(self, basis: Any, origin: Any = None, kind: str = "given"):
        if kind not in KINDS:
            raise ValueError(f"`kind` must be one of {sorted(KINDS)}, got {kind!r}")
        self.basis = _orthonormal(basis)
        self.origin = None if origin is None else _origin(origin, self.basis.shape[1])
        self.kind = kind

    @property
    def dim(self) -> int:
        """The number of parameters."""
        return int(self.basis.shape[1])

    @property
    def rank(self) -> int:
        """2 for a plane, 1 for a line."""
        return int(self.basis.shape[0])

    def with_origin(self, origin: Any) -> Plane:
        """The same plane through ``origin`` (its basis as it is)."""
        plane = Plane.__new__(Plane)
        plane.basis, plane.kind = self.basis, self.kind
        plane.origin = _origin(origin, self.dim)
        return plane

    def digest(self) -> str:
        """A short hash of the plane's values (what a store records of a given plane)."""
        h = hashlib.sha256(self.basis.tobytes())
        if self.origin is not None:
            h.update(self.origin.tobytes())
        return h.hexdigest()[:16]

    def describe(self) -> str:
        """How the plane was chosen, in words (the ``path_plane`` attribute)."""
        text = f"{self.kind}: {KINDS[self.kind]}"
        return f"{text} (sha256 {self.digest()})" if self.kind == "given" else text

    def axis_names(self) -> tuple[str, ...]:
        """What each coordinate of a path is: ``x[0]``, ``x[1]`` for the landscape's own
        coordinates, ``e1``, ``e2`` for the basis vectors of any other plane."""
        if self.kind == "coordinates":
            return tuple(f"x[{i}]" for i in range(self.rank))
        return tuple(f"e{i + 1}" for i in range(self.rank))

    def coordinates(self, flat: Any) -> tuple[np.ndarray, np.ndarray]:
        """The plane coordinates of flat points ``(..., n)`` and their distances from it."""
        flat = np.asarray(flat, dtype=np.float64)
        relative = flat - (0.0 if self.origin is None else self.origin)
        coords = relative @ self.basis.T
        residual = relative - coords @ self.basis
        return coords, np.sqrt(np.sum(residual * residual, axis=-1))

    def point(self, coords: Any) -> np.ndarray:
        """The flat points ``(..., n)`` at plane coordinates ``(..., rank)``."""
        origin = 0.0 if self.origin is None else self.origin
        return origin + np.asarray(coords, dtype=np.float64) @ self.basis

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Plane) and self.kind == other.kind
                and self.digest() == other.digest())

    def __hash__(self) -> int:
        return hash((self.kind, self.digest()))

    def __repr__(self) -> str:
        return f"Plane(rank={self.rank}, dim={self.dim}, kind={self.kind!r})"


def _origin(origin: Any, n: int) -> np.ndarray:
    """``origin`` as ``n`` finite float64 numbers, read-only."""
    origin = np.array(origin, dtype=np.float64)
    if origin.shape != (n,) or not np.all(np.isfinite(origin)):
        raise ValueError(f"`path_plane`: the origin must be {n} finite numbers, like a basis "
                         f"vector, got shape {origin.shape}")
    origin.setflags(write=False)
    return origin


def _orthonormal(basis: Any) -> np.ndarray:
    """``basis`` (rows) orthonormalised by Gram-Schmidt, checked."""
    try:
        rows = np.atleast_2d(np.asarray(basis, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"`path_plane`: the basis must be two vectors of numbers, got "
                         f"{basis!r}") from None
    if rows.ndim != 2 or rows.shape[0] not in (1, 2) or rows.shape[1] < rows.shape[0]:
        raise ValueError(f"`path_plane`: the basis must be 2 vectors (rows) of the parameters' "
                         f"length, got shape {rows.shape}")
    if not np.all(np.isfinite(rows)):
        raise ValueError("`path_plane`: the basis vectors must be finite")
    result = _first_independent(rows, rows.shape[0])
    if result.shape[0] < rows.shape[0]:
        raise ValueError("`path_plane`: the basis vectors must be linearly independent, "
                         f"got {rows.tolist()!r}")
    result.setflags(write=False)
    return result


def _first_independent(rows: Sequence[np.ndarray], count: int) -> np.ndarray:
    """The first ``count`` of ``rows`` that are linearly independent, orthonormalised."""
    kept: list[np.ndarray] = []
    for row in rows:
        for done in kept:
            row = row - (row @ done) * done
        norm = float(np.linalg.norm(row))
        if norm > 1e-9 * max(float(np.linalg.norm(rows[0])), 1e-300):
            kept.append(row / norm)
        if len(kept) == count:
            break
    return np.stack(kept) if kept else np.zeros((0, len(rows[0])))


def check_spec(spec: Any) -> Any:
    """``spec`` if it names a way to choose the plane (``"auto"``, ``"hessian"``) or is a
    :class:`Plane`, else a ``ValueError`` naming ``path_plane``."""
    if isinstance(spec, Plane) or (isinstance(spec, str) and spec in ("auto", "hessian")):
        return spec
    raise ValueError(f"`path_plane` must be 'auto', 'hessian' or an lrscape.paths.Plane, got "
                     f"{spec!r}")


def resolve(spec: Any, landscape: Landscape, start: Any) -> Plane:
    """The plane a sweep's paths are recorded in (see the module's rules), with its origin.

    ``landscape`` is the sweep's (with its data prepared), ``start`` the nominal starting
    point (``x0``, or ``landscape.init`` of the sweep's seed), in the sweep's dtype. A given
    plane must have the parameters' length.
    """
    flat, _ = ravel_pytree(start)
    flat = np.asarray(flat, dtype=np.float64)
    n = flat.size
    if isinstance(spec, Plane):
        if spec.dim != n:
            raise ValueError(f"`path_plane`: the basis vectors have {spec.dim} components; "
                             f"the landscape {landscape.name!r} has {n} parameters")
        return spec if spec.origin is not None else spec.with_origin(flat)
    if n == 1 or (n == 2 and spec == "auto"):
        return Plane(np.eye(n), np.zeros(n), kind="coordinates")
    if spec == "auto":
        declared = landscape.view_plane(start)
        if declared is not None:
            return Plane(np.asarray(declared, dtype=np.float64), flat, kind="landscape")
    return Plane(top_hessian_plane(landscape, start), flat, kind="hessian")


def top_hessian_plane(landscape: Landscape, start: Any) -> np.ndarray:
    """The two top (algebraic) Hessian eigenvectors at ``start``, as rows.

    Dense (``eigh``) up to :data:`DENSE_HESSIAN_MAX` parameters, Lanczos beyond. Where an
    eigenvalue is repeated, its eigenvectors are arbitrary: its eigenspace then gives the
    gradient's part in it (the direction the first step takes there), once, so that the plane
    holds what moves (on a quadratic with eigenvalues 2, 2, 2, 1, the gradient's parts along
    2 and along 1: gradient descent never leaves that plane). Each vector's largest component
    is made positive, so the plane does not depend on the solver's signs.
    """
    flat, unravel = ravel_pytree(start)

    def loss(x: jax.Array) -> jax.Array:
        return landscape.loss(unravel(x))

    gradient = np.asarray(jax.grad(loss)(flat), dtype=np.float64)
    if flat.size <= DENSE_HESSIAN_MAX:
        values, vectors = np.linalg.eigh(np.asarray(jax.hessian(loss)(flat), dtype=np.float64))
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
    else:
        from .curvature import lanczos

        pair = lanczos(loss, flat, k=2, iters=min(LANCZOS_ITERS, flat.size))
        values = np.asarray(pair.value, dtype=np.float64)
        vectors = np.asarray(pair.vector, dtype=np.float64)
    basis = _first_independent(_eigenspace_directions(values, vectors, gradient), 2)
    signs = np.sign(basis[np.arange(2), np.argmax(np.abs(basis), axis=1)])
    return basis * signs[:, None]


def _eigenspace_directions(values: np.ndarray, vectors: np.ndarray, gradient: np.ndarray
                           ) -> list[np.ndarray]:
    """One direction per eigenspace, from the top eigenvalue down: a simple eigenvalue's
    vector, a repeated one's the gradient's part in its eigenspace (its first vector where
    the gradient has none there); then every vector, in case those are too few."""
    scale = max(float(np.abs(values).max()), 1e-30)
    tiny = 1e-12 * max(float(np.linalg.norm(gradient)), 1e-300)
    directions, i = [], 0
    while i < values.size:
        same = np.flatnonzero(np.abs(values - values[i]) <= 1e-6 * scale)
        same = same[same >= i]
        space = vectors[:, same]
        along = space @ (space.T @ gradient)
        directions.append(along if same.size > 1 and np.linalg.norm(along) > tiny
                          else space[:, 0])
        i = int(same.max()) + 1
    return directions + [vectors[:, j] for j in range(vectors.shape[1])]


# -- inside the scan ------------------------------------------------------------------------


class Carried:
    """A plane in the form the scan carries the parameters in (an array, a pytree, or the CPU
    layout's columns), for projecting the iterate once every ``path_every`` updates."""

    def __init__(self, origin: Any, basis: Sequence[Any]):
        self.origin = origin
        self.basis = tuple(basis)

    def sample(self, params: Any, dot: Any) -> jax.Array:
        """``(u_1, [u_2,] d)``: the plane coordinates of ``params`` and its distance from the
        plane; ``dot`` sums the products of two parameter pytrees."""
        relative = jax.tree.map(jnp.subtract, params, self.origin)
        coords = [dot(relative, e) for e in self.basis]
        residual = relative
        for u, e in zip(coords, self.basis, strict=True):
            residual = jax.tree.map(lambda r, x, u=u: r - u * x, residual, e)
        distance = jnp.sqrt(dot(residual, residual))
        return jnp.stack([*coords, distance])


def carried(plane_values: tuple[Any, Any], params: Any, split: Any, dtype: Any) -> Carried:
    """The plane ``(origin, basis)`` (flat arrays, as the sweep passes them) shaped like
    ``params`` and in the carried form ``split`` makes."""
    origin, basis = plane_values
    _, unravel = ravel_pytree(params)

    def shaped(flat: jax.Array) -> Any:
        return split(jax.tree.map(lambda x: x.astype(dtype), unravel(flat.astype(dtype))))

    return Carried(shaped(origin), [shaped(basis[i]) for i in range(basis.shape[0])])


# -- the loss on a plane, for pictures ------------------------------------------------------


def loss_surface(landscape: Landscape, plane: Plane, axes: Sequence[Any], like: Any = None
                 ) -> np.ndarray:
    """The loss at the plane's points over a lattice of coordinates: ``axes`` holds one 1-D
    array per basis vector (``u`` values, and ``v`` values on a plane); returns
    ``(len(v), len(u))`` (or ``(len(u),)`` on a line). ``like``: parameters shaped as the
    landscape takes them (default: its ``init``)."""
    like = landscape.init(jax.random.key(0)) if like is None else like
    _, unravel = ravel_pytree(like)
    mesh = np.meshgrid(*[np.asarray(a, np.float64) for a in axes][::-1], indexing="ij")[::-1]
    coords = np.stack([m.ravel() for m in mesh], axis=-1)
    points = jnp.asarray(plane.point(coords), dtype=jnp.result_type(float))
    values = jax.jit(jax.vmap(lambda x: landscape.loss(unravel(x))))(points)
    return np.asarray(values, dtype=np.float64).reshape(mesh[0].shape)
