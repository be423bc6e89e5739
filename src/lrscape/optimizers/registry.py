"""optax optimizers made sweepable: every numeric hyperparameter becomes a traced leaf.

An :class:`Optimizer` names an optax factory, the numeric hyperparameters it takes (with their
defaults) and its static options. :meth:`Optimizer.build` wraps the factory in
:func:`optax.inject_hyperparams`, so the hyperparameters live in the optimizer state as arrays
and one compiled program serves a whole grid of them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import theory
from ..theory import Edge, Edges

Factory = Callable[..., optax.GradientTransformation]


@dataclasses.dataclass(frozen=True)
class Interval:
    """The values a hyperparameter may take: ``low <= value <= high`` (``< high`` if
    ``high_open``). Values outside make the optimizer meaningless (a negative learning rate
    climbs the loss; Adam's bias correction divides by zero at ``b2 = 1``), so they are refused
    instead of being simulated and labelled."""

    low: float = -math.inf
    high: float = math.inf
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        return self.low <= value and (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        if self.high == math.inf:
            return f">= {self.low:g}"
        return f"in [{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


NON_NEGATIVE = Interval(0.0)
UNIT = Interval(0.0, 1.0)
UNIT_OPEN = Interval(0.0, 1.0, high_open=True)
# Every optimizer's step size, whatever its factory: gradient ascent is not what a sweep studies.
_COMMON_DOMAINS = {"learning_rate": NON_NEGATIVE}


@dataclasses.dataclass(frozen=True)
class Optimizer:
    """An optax factory with its numeric hyperparameters split from its static options.

    Attributes:
        name: a label (the registry name, or the factory's ``__name__``).
        factory: the optax factory, e.g. :func:`optax.sgd`.
        hyperparams: numeric hyperparameters and their values (``None``: must be given, as
            ``learning_rate`` is, by a grid axis or :func:`get`).
        options: static keyword arguments (booleans, structure), baked into the program.
        domains: the :class:`Interval` each hyperparameter must lie in, checked for fixed
            values and grid axes alike before anything compiles; ``learning_rate`` must be
            >= 0 for every optimizer.
        edges: the closed-form edges that apply to it on a quadratic of curvature λ, as
            functions of its ``momentum`` (:class:`lrscape.theory.Edges`: where it diverges
            and where its steps start to bounce, such as gradient descent's ηλ = 2 and 1),
            which the figures draw; ``None`` where none is known. Not part of
            :meth:`config`: it is what the optimizer is, not a setting.
    """

    name: str
    factory: Factory
    hyperparams: Mapping[str, float | None]
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    domains: Mapping[str, Interval] = dataclasses.field(default_factory=dict)
    edges: Edges | None = None

    def check(self, key: str, value: Any) -> None:
        """Raise ``ValueError`` naming ``key`` and ``value`` unless it is a valid setting."""
        _check_number(self.name, key, value)
        domain = self.domains.get(key, _COMMON_DOMAINS.get(key))
        if domain is not None and float(value) not in domain:
            raise ValueError(f"optimizer {self.name!r}: hyperparameter {key!r} must be "
                             f"{domain}, got {value!r}")

    def with_values(self, **values: Any) -> Optimizer:
        """A copy with hyperparameters or options set; unknown names are refused."""
        hyper, options = dict(self.hyperparams), dict(self.options)
        for key, value in values.items():
            if key in hyper:
                self.check(key, value)
                hyper[key] = float(value)
            elif key in options or key in _factory_parameters(self.factory):
                options[key] = value
            else:
                raise ValueError(
                    f"optimizer {self.name!r} has no hyperparameter or option {key!r}; "
                    f"hyperparameters: {', '.join(hyper) or 'none'}"
                )
        return dataclasses.replace(self, hyperparams=hyper, options=options)

    def missing(self, provided: set[str]) -> list[str]:
        """Hyperparameters with no value that ``provided`` (e.g. the grid's keys) lacks."""
        return [k for k, v in self.hyperparams.items() if v is None and k not in provided]

    def build(self, **hyperparams: Any) -> optax.GradientTransformation:
        """The transformation with these (possibly traced) hyperparameter values, the others
        at their fixed values."""
        values = {k: v for k, v in self.hyperparams.items() if v is not None}
        values.update(hyperparams)
        return inject(self.factory, self.options, values)

    @functools.cached_property
    def elementwise(self) -> bool:
        """Whether the transformation updates every coordinate from that coordinate's own
        gradient and state alone, so that sweeps may carry a small parameter vector as
        separate scalars (faster on CPU; :mod:`lrscape.backend`).

        Checked, not declared: the program of two updates of a 3-vector may hold only
        operations that act on each coordinate alone. An optimizer that takes a norm per
        parameter array (LARS, block-wise clipping) fails, since on columns each scalar would
        be an array of its own; so does anything this check cannot trace (the safe answer).
        """
        try:
            key = (self.factory, tuple(sorted(self.options.items())),
                   tuple(sorted(self.hyperparams.items())))
            hash(key)
        except TypeError:  # an option that cannot be a key: check this instance alone
            return _updates_coordinatewise(self)
        if key not in _ELEMENTWISE:
            _ELEMENTWISE[key] = _updates_coordinatewise(self)
        return _ELEMENTWISE[key]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "hyperparams": dict(self.hyperparams),
                "options": {k: _plain(v) for k, v in self.options.items()}}


def _plain(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str | None) else repr(value)


def _check_number(name: str, key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"optimizer {name!r}: hyperparameter {key!r} must be a number, "
                         f"got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"optimizer {name!r}: hyperparameter {key!r} must be finite, "
                         f"got {value!r}")


def _factory_parameters(factory: Factory) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(factory).parameters)


def from_factory(factory: Factory, name: str | None = None) -> Optimizer:
    """Make any optax factory sweepable.

    Parameters without a default, or with a numeric default, are hyperparameters; the rest
    (booleans, ``None``, dtypes) are options left at their defaults unless set.
    """
    hyper: dict[str, float | None] = {}
    for pname, param in _factory_parameters(factory).items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = param.default
        if default is inspect.Parameter.empty:
            hyper[pname] = None
        elif isinstance(default, int | float) and not isinstance(default, bool):
            hyper[pname] = float(default)
    return Optimizer(name or getattr(factory, "__name__", "optimizer"), factory, hyper)


# -- the registry ---------------------------------------------------------------------------


def _heavy_ball(learning_rate: float, momentum: float = 0.9) -> optax.GradientTransformation:
    """Heavy-ball momentum: v <- g + beta v; x <- x - eta v."""
    return optax.sgd(learning_rate, momentum=momentum)


def _nesterov(learning_rate: float, momentum: float = 0.9) -> optax.GradientTransformation:
    """Nesterov momentum in optax's form: v <- g + beta v; x <- x - eta (g + beta v)."""
    return optax.sgd(learning_rate, momentum=momentum, nesterov=True)


def _sgd(learning_rate: float) -> optax.GradientTransformation:
    """Plain (stochastic) gradient descent: x <- x - eta g."""
    return optax.sgd(learning_rate)


def _gd_divergence(momentum: Any) -> float:
    """Gradient descent's divergence edge, 2, whatever the momentum (it has none)."""
    return theory.gd_edge()


def _gd_bounce(momentum: Any) -> float:
    """Gradient descent's bounce edge, 1, with or without noise (it has no momentum)."""
    return theory.gd_oscillation_edge()


_DIVERGES, _BOUNCES = "diverges", "steepest direction bounces"
_BOUNCES_NOISY = "noisy steps anticorrelate (ρ ≤ −1/2)"
_RINGS = "rings (complex roots)"
# The closed forms of lrscape.theory, as functions of the momentum beta with their formulas.
_EDGES: dict[str, Edges] = {
    "sgd": Edges("gradient descent", Edge(_DIVERGES, _gd_divergence, "2"),
                 Edge(_BOUNCES, _gd_bounce, "1"), Edge(_BOUNCES_NOISY, _gd_bounce, "1")),
    "momentum": Edges(
        "heavy ball", Edge(_DIVERGES, theory.heavy_ball_edge, "2(1+β)"),
        Edge(_BOUNCES, theory.heavy_ball_oscillation_edge, "1+β"),
        Edge(_BOUNCES_NOISY, theory.heavy_ball_noisy_oscillation_edge, "1+2β"),
        Edge(_RINGS, theory.heavy_ball_ringing_edge, "(1−√β)²")),
    "nesterov": Edges(
        "Nesterov", Edge(_DIVERGES, theory.nesterov_edge, "(2+2β)/(1+2β)"),
        Edge(_BOUNCES, theory.nesterov_oscillation_edge, "(1+β+β²)/(1+β)²"),
        Edge(_BOUNCES_NOISY, theory.nesterov_noisy_oscillation_edge, "h(β), 0.85 to 1"),
        Edge(_RINGS, theory.nesterov_ringing_edge, "((1−β)/(1+β))²")),
}

# name: (factory, hyperparameters with defaults, their domains beyond learning_rate >= 0).
# Momentum is left unbounded: negative and >= 1 values are studied, and simulate faithfully.
_ADAM_DOMAINS = {"b1": UNIT_OPEN, "b2": UNIT_OPEN, "eps": NON_NEGATIVE}
_ENTRIES: dict[str, tuple[Factory, dict[str, float | None], dict[str, Interval]]] = {
    "sgd": (_sgd, {"learning_rate": None}, {}),
    "momentum": (_heavy_ball, {"learning_rate": None, "momentum": 0.9}, {}),
    "nesterov": (_nesterov, {"learning_rate": None, "momentum": 0.9}, {}),
    "adam": (optax.adam, {"learning_rate": None, "b1": 0.9, "b2": 0.999, "eps": 1e-8},
             _ADAM_DOMAINS),
    "adamw": (optax.adamw, {"learning_rate": None, "b1": 0.9, "b2": 0.999, "eps": 1e-8,
                            "weight_decay": 1e-4}, {**_ADAM_DOMAINS, "weight_decay": NON_NEGATIVE}),
    "rmsprop": (optax.rmsprop, {"learning_rate": None, "decay": 0.9, "eps": 1e-8},
                {"decay": UNIT_OPEN, "eps": NON_NEGATIVE}),
    "adagrad": (optax.adagrad, {"learning_rate": None, "initial_accumulator_value": 0.1,
                                "eps": 1e-7},
                {"initial_accumulator_value": NON_NEGATIVE, "eps": NON_NEGATIVE}),
    "lion": (optax.lion, {"learning_rate": None, "b1": 0.9, "b2": 0.99,
                          "weight_decay": 1e-3},
             {"b1": UNIT, "b2": UNIT, "weight_decay": NON_NEGATIVE}),
}


def available() -> tuple[str, ...]:
    """Registered optimizer names, sorted."""
    return tuple(sorted(_ENTRIES))


def get(name: str | Factory | Optimizer, **values: Any) -> Optimizer:
    """The optimizer registered as ``name`` (or wrapping an optax factory), with values set.

    >>> opt = get("momentum", momentum=0.5)
    >>> opt.hyperparams["momentum"]
    0.5
    """
    if isinstance(name, Optimizer):
        base = name
    elif isinstance(name, optax.GradientTransformation):
        raise ValueError(
            f"`optimizer` must be an optax factory such as optax.adam, not an optimizer already "
            f"built with its hyperparameters ({type(name).__name__}): lrscape calls the factory "
            f"with traced values so they can be swept; fix a value with "
            f"lrscape.optimizers.get(optax.adam, b1=0.5)"
        )
    elif callable(name):
        base = from_factory(name)
    elif isinstance(name, str) and name in _ENTRIES:
        factory, hyper, domains = _ENTRIES[name]
        base = Optimizer(name, factory, dict(hyper), domains=domains, edges=_EDGES.get(name))
    else:
        raise ValueError(f"unknown optimizer {name!r}; available: {', '.join(available())}")
    return base.with_values(**values) if values else base


def inject(factory: Factory, options: Mapping[str, Any], values: Mapping[str, Any]
           ) -> optax.GradientTransformation:
    """``factory(**values, **options)`` through :func:`optax.inject_hyperparams`, so that the
    (possibly traced) ``values`` live in the optimizer state as arrays; ``options`` are static."""
    make = optax.inject_hyperparams(factory, static_args=tuple(options))
    return make(**values, **options)


_ELEMENTWISE: dict[Any, bool] = {}  # Optimizer.elementwise, by factory, options and values


#: Primitives that act on each coordinate alone (or on scalars: counts, hyperparameters).
_COORDINATEWISE = frozenset({
    "abs", "add", "add_any", "and", "atan2", "clamp", "convert_element_type", "copy",
    "copy_p", "cos", "div", "eq", "erf", "exp", "exp2", "expm1", "ge", "gt", "integer_pow",
    "is_finite", "le", "log", "log1p", "logistic", "lt", "max", "min", "mul", "ne", "neg",
    "not", "or", "pow", "rem", "round", "rsqrt", "select_n", "sign", "sin", "sqrt", "square",
    "stop_gradient", "sub", "tan", "tanh", "floor", "ceil",
    # calls, whose bodies are checked in turn
    "jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call",
    "custom_vjp_call_jaxpr"})


def _updates_coordinatewise(optimizer: Optimizer) -> bool:
    """See :attr:`Optimizer.elementwise`: trace two updates of a 3-vector (every unset
    hyperparameter at 0.1) and accept only primitives that act on each coordinate alone,
    scalars broadcast to the vector included. Tracing compiles nothing: a few milliseconds."""
    values = {k: 0.1 if v is None else v for k, v in optimizer.hyperparams.items()}
    try:
        tx = optimizer.build(**values)

        def two_updates(g1: jax.Array, g2: jax.Array, params: jax.Array) -> Any:
            state = tx.init(params)
            first, state = tx.update(g1, state, params)
            second, _ = tx.update(g2, state, optax.apply_updates(params, first))
            return first, second

        vector = jnp.zeros(3, jnp.float32)
        closed = jax.make_jaxpr(two_updates)(vector, vector, vector)
    except Exception:  # a factory this check cannot call: the safe answer
        return False
    return _acts_coordinatewise(closed.jaxpr)


def _acts_coordinatewise(jaxpr: Any) -> bool:
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "broadcast_in_dim":  # a scalar spread over the vector, or a no-op
            operand = eqn.invars[0].aval.shape
            if operand not in ((), tuple(eqn.params["shape"])):
                return False
            continue
        if name not in _COORDINATEWISE:
            return False
        for value in eqn.params.values():
            for inner in value if isinstance(value, tuple | list) else (value,):
                body = getattr(inner, "jaxpr", inner)  # a ClosedJaxpr's, or a Jaxpr
                if hasattr(body, "eqns") and not _acts_coordinatewise(body):
                    return False
    return True
