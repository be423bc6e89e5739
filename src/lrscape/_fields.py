"""Frozen pytree dataclasses with validated fields, and name registries.

Landscapes and schedules share one pattern: a frozen, keyword-only dataclass registered as a
JAX pytree, whose numeric scalar fields are traced leaves (sweepable), whose shape-fixing fields
are static metadata (:func:`static_field`), and whose seeded arrays are derived leaves
(:func:`derived_field`). Validation runs in ``__post_init__`` on concrete values only: JAX
rebuilds these objects with tracers and placeholders as leaves, which are skipped.

This module is a leaf: it imports nothing else of lrscape's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import jax
import numpy as np

T = TypeVar("T")


def static_field(default: Any, **kwargs: Any) -> Any:
    """A field that fixes shapes or control flow: pytree metadata, never traced."""
    return dataclasses.field(default=default, metadata={"static": True}, **kwargs)


def derived_field() -> Any:
    """An array leaf computed in ``__post_init__`` from static fields; leave it unset."""
    return dataclasses.field(default=None, repr=False, metadata={"derived": True})


def is_concrete(value: Any) -> bool:
    """True for Python and NumPy numbers and arrays, and for JAX arrays that are not traced."""
    if isinstance(value, bool | int | float | str | np.ndarray | np.generic | list | tuple):
        return True
    return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)


def pytree_dataclass(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen keyword-only dataclass registered as a JAX pytree."""
    cls = dataclasses.dataclass(frozen=True, eq=False, kw_only=True)(cls)
    return jax.tree_util.register_dataclass(cls)


def _unpickle(cls: type[T], state: dict[str, Any]) -> T:
    """Rebuild a pickled landscape or schedule, making its class a pytree again if needed.

    A class that cannot be imported by name (one defined in a notebook or a function, or in a
    module sent by value) reaches another process, such as a Ray worker, as a copy of its
    code, without the pytree registration its decorator made: JAX would then take the object
    for an array.
    """
    obj = object.__new__(cls)
    obj.__dict__.update(state)
    if jax.tree_util.all_leaves([obj]):
        jax.tree_util.register_dataclass(cls)
    return obj


class FieldsMixin:
    """Introspection shared by landscapes and schedules."""

    _array_fields: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        return _unpickle, (type(self), dict(self.__dict__))

    def __post_init__(self) -> None:
        self._validate()

    def _validate(self) -> None:
        """Check concrete field values; called at construction."""

    @classmethod
    def sweepable_fields(cls) -> tuple[str, ...]:
        """Names of the numeric scalar fields: the ones that can be grid axes."""
        return tuple(
            f.name
            for f in dataclasses.fields(cls)
            if not f.metadata.get("static")
            and not f.metadata.get("derived")
            and f.name not in cls._array_fields
        )

    def config(self) -> dict[str, Any]:
        """The user-set fields as plain Python values (JSON-serialisable)."""
        out = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("derived"):
                continue
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray | jax.Array):
                value = np.asarray(value).tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            out[f.name] = value
        return out

    def replace(self: T, **fields: Any) -> T:
        """A copy with some fields changed, validated like a new object."""
        return dataclasses.replace(self, **fields)


class Registry(Generic[T]):
    """Names (kebab-case) to classes, with helpful errors for unknown names and fields."""

    def __init__(self, kind: str, base: type | None = None, required: tuple[str, ...] = ()):
        """``required``: methods every registered class must define beyond ``base``'s."""
        self.kind = kind
        self.base = base
        self.required = required
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """A class decorator: make the class a pytree dataclass and register it as ``name``.

        Registering a class again under its name replaces the entry when it is the same class
        by module and qualified name (a notebook cell run twice, a reloaded module); another
        class under a taken name is refused.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")

        def wrap(cls: type[T]) -> type[T]:
            if self.base is not None and not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise ValueError(f"a registered {self.kind} must subclass "
                                 f"{self.base.__name__}, got {cls!r}")
            missing = [m for m in self.required
                       if getattr(cls, m, None) is getattr(self.base, m, None)]
            if missing:
                raise ValueError(f"{self.kind} {cls.__name__} must define {', '.join(missing)}")
            previous = self._entries.get(name)
            if previous is not None and _qualified(previous) != _qualified(cls):
                raise ValueError(
                    f"a {self.kind} named {name!r} is already registered "
                    f"({_qualified(previous)}); choose another name"
                )
            cls = pytree_dataclass(cls)
            cls.name = name
            self._entries[name] = cls
            return cls

        return wrap

    def get(self, name: str, **fields: Any) -> T:
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(
                f"unknown {self.kind} {name!r}; available: {', '.join(self.available())}"
            )
        cls = self._entries[name]
        known = {f.name for f in dataclasses.fields(cls) if not f.metadata.get("derived")}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} has no field(s) {', '.join(map(repr, unknown))}; "
                f"its fields are: {', '.join(sorted(known))}"
            )
        return cls(**fields)

    def lookup(self, name: str) -> type[T] | None:
        """The class registered as ``name``, or ``None`` (nothing is built or checked)."""
        return self._entries.get(name) if isinstance(name, str) else None

    def available(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# -- validation helpers --------------------------------------------------------------------


def fail(obj: Any, field: str, value: Any, requirement: str) -> None:
    raise ValueError(f"{type(obj).__name__}: field `{field}` must be {requirement}, got {value!r}")


def check_scalar(
    obj: Any, field: str, *, positive: bool = False, nonnegative: bool = False
) -> None:
    """A finite real scalar, optionally > 0 or >= 0; tracers and placeholders are skipped."""
    value = getattr(obj, field)
    if not is_concrete(value):
        return
    arr = np.asarray(value) if not isinstance(value, str) else np.asarray(np.nan, object)
    if arr.ndim != 0 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        fail(obj, field, value, "a real scalar")
    if isinstance(value, bool):
        fail(obj, field, value, "a real scalar")
    if not np.isfinite(arr):
        fail(obj, field, value, "finite")
    if positive and not arr > 0:
        fail(obj, field, value, "> 0")
    if nonnegative and not arr >= 0:
        fail(obj, field, value, ">= 0")


def check_int(obj: Any, field: str, minimum: int) -> None:
    value = getattr(obj, field)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        fail(obj, field, value, f"an integer >= {minimum}")
    if value < minimum:
        fail(obj, field, value, f">= {minimum}")


def check_optional_int(obj: Any, field: str) -> None:
    value = getattr(obj, field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)):
        fail(obj, field, value, "an integer or None")


def check_vector(obj: Any, field: str, *, nonnegative: bool = False) -> np.ndarray | None:
    """A non-empty finite 1-D sequence, returned as float64; None when not concrete.

    Kept at full precision: a sweep casts it to its own dtype where the run is set up.
    """
    value = getattr(obj, field)
    if not is_concrete(value):
        return None
    try:
        arr = np.array(value, dtype=np.float64)  # a copy: the caller's array may change
    except (TypeError, ValueError):
        fail(obj, field, value, "a 1-D sequence of numbers")
    if arr.ndim != 1 or arr.size == 0:
        fail(obj, field, value, "a non-empty 1-D sequence")
    if not np.all(np.isfinite(arr)):
        fail(obj, field, value, "finite")
    if nonnegative and np.any(arr < 0):
        fail(obj, field, value, ">= 0 everywhere")
    return arr


# -- checks of plain settings (a sweep's options, not a dataclass's fields) -----------------


def require_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` if it is an integer >= ``minimum`` (not a bool), else a ``ValueError``
    naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    return int(value)


def require_optional_int(name: str, value: Any, minimum: int = 1) -> int | None:
    """``None``, or an integer >= ``minimum`` (not a bool)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | np.integer)
                              or value < minimum):
        raise ValueError(f"`{name}` must be an integer >= {minimum} or None, got {value!r}")
    return None if value is None else int(value)


def require_bool(name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``, else a ``ValueError`` naming ``name``."""
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def require_real(name: str, value: Any, requirement: str = "a finite number",
                 holds: Callable[[float], bool] = lambda v: True) -> float:
    """``value`` as a float if it is a finite real number (not a bool) for which ``holds``,
    else a ``ValueError``: "`name` must be ``requirement``, got ``value``"."""
    if (isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating)
            or not np.isfinite(value) or not holds(float(value))):
        raise ValueError(f"`{name}` must be {requirement}, got {value!r}")
    return float(value)


def require_nonnegative(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number >= 0 (not a bool)."""
    return require_real(name, value, "a finite number >= 0", lambda v: v >= 0)


def require_positive(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number > 0 (not a bool)."""
    return require_real(name, value, "a finite number > 0", lambda v: v > 0)


def cast_floats(tree: Any, dtype: Any, xp: Any = np) -> Any:
    """``tree`` with its floating-point leaves (and Python floats) as ``dtype``; integer
    leaves stay as they are. ``xp``: ``numpy`` (host values) or ``jax.numpy`` (in a trace)."""
    if tree is None:
        return None

    def leaf(x: Any) -> Any:
        arr = xp.asarray(x)
        floating = xp.issubdtype(arr.dtype, xp.floating) or isinstance(x, float)
        return arr.astype(dtype) if floating else arr

    return jax.tree.map(leaf, tree)


def sum_small(x: jax.Array) -> jax.Array:
    """Sum over the last axis, written as explicit additions when that axis is tiny.

    XLA on CPU reduces a tiny axis (two or three parameters, once per trajectory and step)
    an order of magnitude slower than it adds the terms, and the loss sits in the innermost
    loop of every sweep.
    """
    if x.ndim >= 1 and x.shape[-1] <= 4:
        total = x[..., 0]
        for i in range(1, x.shape[-1]):
            total = total + x[..., i]
        return total
    return jax.numpy.sum(x, axis=-1)
