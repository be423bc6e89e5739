r"""Learning-rate schedules as functions ``step -> multiplier``.

The rate at update ``t`` (counting from 0) is ``learning_rate * schedule(t)``, so the swept
``learning_rate`` is the peak rate and any schedule composes with any grid. Each schedule is a
frozen pytree dataclass: its numeric scalar fields are traced, so they can be grid axes of a
sweep too (``grid={"warmup_steps": [10, 100, 1000]}``).

>>> import lrscape
>>> s = lrscape.schedules.get("step-decay", every=100, factor=0.1)
>>> [round(float(s(t)), 4) for t in (0, 99, 100, 250)]
[1.0, 1.0, 0.1, 0.01]
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from ._fields import (
    FieldsMixin,
    Registry,
    check_scalar,
    check_vector,
    fail,
    pytree_dataclass,
    static_field,
)


class Schedule(FieldsMixin):
    """Base class: a multiplier of the learning rate as a function of the update index."""

    name: ClassVar[str]

    def __call__(self, step: jax.Array) -> jax.Array:
        raise NotImplementedError

    def check_horizon(self, steps: int) -> None:
        """Raise ``ValueError`` if the schedule has events past a run of ``steps`` updates."""

    def run_config(self, steps: int) -> dict[str, Any]:
        """What a store records of the schedule for a run of ``steps`` updates: its fields."""
        return self.config()


REGISTRY: Registry[Schedule] = Registry("schedule", base=Schedule, required=("__call__",))
register = REGISTRY.register


def get(name: str, **fields: Any) -> Schedule:
    """Build the schedule registered as ``name`` (kebab-case) with the given fields."""
    return REGISTRY.get(name, **fields)


def resolve(schedule: Schedule | str | Callable[[jax.Array], Any] | None) -> Schedule | None:
    """What :func:`lrscape.sweep` accepts as ``schedule``, made a :class:`Schedule`.

    A registry name, a :class:`Schedule`, ``None`` (constant), or any JAX-traceable function
    ``step -> multiplier`` such as an optax schedule, wrapped in :class:`FunctionSchedule`.
    """
    if schedule is None or isinstance(schedule, Schedule):
        return schedule
    if isinstance(schedule, str):
        return get(schedule)
    if callable(schedule):
        return FunctionSchedule(function=schedule)
    raise ValueError(
        f"`schedule` must be a Schedule, a registry name or a function step -> multiplier, "
        f"got {schedule!r}"
    )


def available() -> tuple[str, ...]:
    """Registered schedule names, sorted."""
    return REGISTRY.available()


def _fraction(step: jax.Array, length: Any) -> jax.Array:
    """``clip(step / length, 0, 1)``."""
    return jnp.clip(step / length, 0.0, 1.0)


def _check_within(obj: Any, field: str, steps: int) -> None:
    value = getattr(obj, field)
    if np.ndim(value) == 0 and float(value) > steps:
        raise ValueError(
            f"{type(obj).__name__}: `{field}` = {value!r} lies past the last step of a "
            f"{steps}-step run"
        )


@register("constant")
class Constant(Schedule):
    r""":math:`m(t) = 1`."""

    def __call__(self, step: jax.Array) -> jax.Array:
        return jnp.ones(jnp.shape(step))  # JAX's default float type: a sweep's own


@register("piecewise-constant")
class PiecewiseConstant(Schedule):
    r"""Constant pieces: :math:`m(t) = c_k` for :math:`b_k \le t < b_{k+1}`.

    With ``boundaries`` :math:`b_1 < \dots < b_K` (update indices) and ``multipliers``
    :math:`c_0, \dots, c_K` (one more than boundaries). The classic recipe "0.1, then 0.01,
    then 0.001" is ``learning_rate=0.1`` with ``multipliers=(1, 0.1, 0.01)``.
    """

    _array_fields = ("boundaries", "multipliers")

    boundaries: jax.Array = (1000.0,)
    multipliers: jax.Array = (1.0, 0.1)

    def _validate(self) -> None:
        b = check_vector(self, "boundaries", nonnegative=True)
        c = check_vector(self, "multipliers", nonnegative=True)
        if b is not None and np.any(np.diff(b) <= 0):
            fail(self, "boundaries", self.boundaries, "strictly increasing")
        if b is not None and c is not None and c.size != b.size + 1:
            fail(self, "multipliers", self.multipliers,
                 f"one longer than boundaries ({b.size + 1} values)")
        if b is not None:
            object.__setattr__(self, "boundaries", b)
        if c is not None:
            object.__setattr__(self, "multipliers", c)

    def __call__(self, step: jax.Array) -> jax.Array:
        index = jnp.sum(step >= self.boundaries)
        return jnp.asarray(self.multipliers)[index]

    def check_horizon(self, steps: int) -> None:
        last = float(np.max(self.boundaries))
        if last >= steps:
            raise ValueError(
                f"PiecewiseConstant: boundary {last:g} lies past the last step of a "
                f"{steps}-step run (updates are numbered 0..{steps - 1})"
            )


@register("step-decay")
class StepDecay(Schedule):
    r"""Multiply the rate by ``factor`` every ``every`` updates.

    .. math:: m(t) = \gamma^{\lfloor t / T \rfloor}
    """

    every: float = 1000.0
    factor: float = 0.1

    def _validate(self) -> None:
        check_scalar(self, "every", positive=True)
        check_scalar(self, "factor", positive=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        return self.factor ** jnp.floor(step / self.every)


@register("cosine")
class Cosine(Schedule):
    r"""Cosine decay to ``final`` over ``decay_steps`` updates, then constant.

    .. math:: m(t) = f + (1 - f)\,\tfrac12\left(1 + \cos(\pi \min(t/D, 1))\right)
    """

    decay_steps: float = 1000.0
    final: float = 0.0

    def _validate(self) -> None:
        check_scalar(self, "decay_steps", positive=True)
        check_scalar(self, "final", nonnegative=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * _fraction(step, self.decay_steps)))
        return self.final + (1.0 - self.final) * cosine


@register("linear-warmup")
class LinearWarmup(Schedule):
    r"""Linear warm-up from ``initial`` to 1 over ``warmup_steps`` updates, then constant.

    .. math:: m(t) = m_0 + (1 - m_0) \min(t / W, 1)
    """

    warmup_steps: float = 100.0
    initial: float = 0.0

    def _validate(self) -> None:
        check_scalar(self, "warmup_steps", positive=True)
        check_scalar(self, "initial", nonnegative=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        return self.initial + (1.0 - self.initial) * _fraction(step, self.warmup_steps)

    def check_horizon(self, steps: int) -> None:
        _check_within(self, "warmup_steps", steps)


@register("warmup-stable-decay")
class WarmupStableDecay(Schedule):
    r"""Warm-up, a long stable phase, then a linear decay (the "WSD" or trapezoidal schedule).

    .. math::

        m(t) = \begin{cases}
            t / W & t < W \\
            1 & W \le t < W + S \\
            1 - (1 - f)\min\left((t - W - S)/D, 1\right) & t \ge W + S
        \end{cases}
    """

    warmup_steps: float = 100.0
    stable_steps: float = 700.0
    decay_steps: float = 200.0
    final: float = 0.0

    def _validate(self) -> None:
        check_scalar(self, "warmup_steps", nonnegative=True)
        check_scalar(self, "stable_steps", nonnegative=True)
        check_scalar(self, "decay_steps", positive=True)
        check_scalar(self, "final", nonnegative=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        warm = _fraction(step, jnp.maximum(self.warmup_steps, 1e-12))
        decay = _fraction(step - self.warmup_steps - self.stable_steps, self.decay_steps)
        return warm * (1.0 - (1.0 - self.final) * decay)

    def check_horizon(self, steps: int) -> None:
        total = float(self.warmup_steps) + float(self.stable_steps) + float(self.decay_steps)
        if np.ndim(total) == 0 and total > steps:
            raise ValueError(
                f"WarmupStableDecay: warmup + stable + decay = {total:g} steps lies past the "
                f"last step of a {steps}-step run"
            )


@register("triangular")
class Triangular(Schedule):
    r"""Triangular cyclical rate (Smith 2017): from ``minimum`` up to 1 and back, every ``period``.

    .. math:: m(t) = m_{\min} + (1 - m_{\min})\left(1 - \left|2\,\{t/P\} - 1\right|\right)

    where :math:`\{\cdot\}` is the fractional part: the cycle starts at the minimum and peaks at
    half-period.
    """

    period: float = 200.0
    minimum: float = 0.1

    def _validate(self) -> None:
        check_scalar(self, "period", positive=True)
        check_scalar(self, "minimum", nonnegative=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        phase = jnp.mod(step / self.period, 1.0)
        return self.minimum + (1.0 - self.minimum) * (1.0 - jnp.abs(2.0 * phase - 1.0))


@register("one-cycle")
class OneCycle(Schedule):
    r"""One cycle (Smith & Topin 2019): cosine up from ``initial`` to 1, then down to ``final``.

    The peak is at :math:`t = pT` (``peak_fraction`` of ``total_steps``):

    .. math::

        m(t) = \begin{cases}
            m_0 + (1 - m_0)\,\tfrac12(1 - \cos(\pi t / pT)) & t < pT \\
            f + (1 - f)\,\tfrac12(1 + \cos(\pi \min((t - pT)/((1 - p)T), 1))) & t \ge pT
        \end{cases}
    """

    total_steps: float = 1000.0
    peak_fraction: float = 0.3
    initial: float = 0.04
    final: float = 1e-4

    def _validate(self) -> None:
        check_scalar(self, "total_steps", positive=True)
        check_scalar(self, "peak_fraction", positive=True)
        check_scalar(self, "initial", nonnegative=True)
        check_scalar(self, "final", nonnegative=True)
        p = self.peak_fraction
        if isinstance(p, int | float) and not p < 1:
            fail(self, "peak_fraction", p, "< 1")

    def __call__(self, step: jax.Array) -> jax.Array:
        peak = self.peak_fraction * self.total_steps
        up = _fraction(step, peak)
        down = _fraction(step - peak, self.total_steps - peak)
        rising = self.initial + (1.0 - self.initial) * 0.5 * (1.0 - jnp.cos(jnp.pi * up))
        falling = self.final + (1.0 - self.final) * 0.5 * (1.0 + jnp.cos(jnp.pi * down))
        return jnp.where(step < peak, rising, falling)

    def check_horizon(self, steps: int) -> None:
        _check_within(self, "total_steps", steps)


@register("exponential-range")
class ExponentialRange(Schedule):
    r"""The learning-rate range test: an exponential ramp from ``initial`` to ``final``.

    .. math:: m(t) = m_0 \left(m_1 / m_0\right)^{\min(t / T, 1)}

    over ``range_steps`` :math:`T` updates. With ``learning_rate=1`` the rate itself sweeps
    from :math:`m_0` to :math:`m_1` in one run (Smith 2017).
    """

    range_steps: float = 1000.0
    initial: float = 1e-6
    final: float = 1.0

    def _validate(self) -> None:
        check_scalar(self, "range_steps", positive=True)
        check_scalar(self, "initial", positive=True)
        check_scalar(self, "final", positive=True)

    def __call__(self, step: jax.Array) -> jax.Array:
        ratio = self.final / self.initial
        return self.initial * ratio ** _fraction(step, self.range_steps)

    def check_horizon(self, steps: int) -> None:
        _check_within(self, "range_steps", steps)


@pytree_dataclass
class FunctionSchedule(Schedule):
    r"""Any JAX-traceable function :math:`t \mapsto m(t)`, e.g. an optax schedule.

    ``FunctionSchedule(function=optax.cosine_decay_schedule(1.0, 1000))``, or simply
    ``sweep(..., schedule=optax.cosine_decay_schedule(1.0, 1000))``. The function receives the
    update index as a traced integer scalar, so it must branch with ``jnp.where``, not ``if``.
    It has no fields to sweep. Before a sweep compiles, :meth:`check_horizon` evaluates it at
    every update of the run and refuses a non-scalar, non-finite or negative multiplier; the
    run's multipliers are fingerprinted in the sweep's configuration, so a store resumes only
    under a function that gives the same rates.

    >>> import optax
    >>> s = FunctionSchedule(function=optax.exponential_decay(1.0, 10, 0.5))
    >>> [round(float(s(t)), 4) for t in (0, 10, 20)]
    [1.0, 0.5, 0.25]
    """

    name: ClassVar[str] = "function"
    function: Callable[[jax.Array], Any] = static_field(None)

    def _validate(self) -> None:
        if not callable(self.function):
            fail(self, "function", self.function, "a function step -> multiplier")

    def __call__(self, step: jax.Array) -> jax.Array:
        return jnp.asarray(self.function(step))

    def multipliers(self, steps: int) -> np.ndarray:
        """The multipliers at updates ``0 .. steps - 1``, checked; ``ValueError`` if unusable.

        Tracing (``jax.eval_shape``) catches a function that is not traceable or does not
        return a real scalar without compiling anything; only then is it evaluated, once per
        ``steps`` for this object (the check and the store's fingerprint share the result).
        """
        cache = self.__dict__.setdefault("_multipliers", {})
        if steps not in cache:
            cache[steps] = self._evaluate(steps)
        return cache[steps]

    def _evaluate(self, steps: int) -> np.ndarray:
        label = self.label()
        evaluate = jax.vmap(self)
        updates = np.arange(steps, dtype=np.int32)
        try:
            out = jax.eval_shape(evaluate, updates)
        except Exception as error:  # noqa: BLE001 - any failure of user code gets context
            first_line = (str(error).strip().splitlines() or [""])[0]
            raise ValueError(
                f"`schedule` {label} must be a JAX function step -> multiplier of a traced "
                f"int32 update index (branch with jnp.where, not if); calling it raised "
                f"{type(error).__name__}: {first_line}"
            ) from error
        real = np.issubdtype(out.dtype, np.integer) or np.issubdtype(out.dtype, np.floating)
        if out.shape != (steps,) or not real:
            raise ValueError(
                f"`schedule` {label} must return one real number per step, got shape "
                f"{out.shape[1:]} and dtype {out.dtype}"
            )
        values = np.asarray(jax.jit(evaluate)(updates))
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if bad.size:
            t = int(bad[0])
            raise ValueError(
                f"`schedule` {label} must return finite multipliers >= 0, got "
                f"{float(values[t]):.6g} at update {t}"
            )
        return values

    def check_horizon(self, steps: int) -> None:
        self.multipliers(steps)

    def run_config(self, steps: int) -> dict[str, Any]:
        """The label and a SHA-256 of the run's multipliers (as float64): the function's
        identity for a store, whatever object carries it."""
        data = self.multipliers(steps).astype(np.float64).tobytes()
        return {**self.config(), "multipliers_sha256": hashlib.sha256(data).hexdigest()}

    def label(self) -> str:
        """``module.qualname`` of the function, else of its type (a ``functools.partial``).

        Never a repr with a memory address, which would differ in every process.
        """
        owner = self.function if hasattr(self.function, "__qualname__") else type(self.function)
        return f"{getattr(owner, '__module__', None) or '?'}.{owner.__qualname__}"

    def config(self) -> dict[str, Any]:
        return {"function": self.label()}
