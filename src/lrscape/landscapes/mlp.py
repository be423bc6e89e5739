"""A small fully connected network on a seeded synthetic regression task (full batch)."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, derived_field, fail, static_field
from ._base import Landscape, register

_NONLINEARITIES = {"tanh": jnp.tanh, "relu": jax.nn.relu, "identity": lambda x: x}
_PARAMETERIZATIONS = ("standard", "ntk", "mean-field")


@functools.lru_cache(maxsize=32)
def _teacher_data(n_data: int, input_dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x ~ N(0, I) and a single-index teacher's clean outputs tanh(w* . x)."""
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((n_data, input_dim))
    teacher = rng.standard_normal(input_dim)
    clean = np.tanh(inputs @ teacher / math.sqrt(input_dim) * 2.0)
    noise = rng.standard_normal(n_data)
    return inputs.astype(np.float32), np.stack([clean, noise]).astype(np.float32)


def forward(
    params: dict[str, jax.Array],
    inputs: jax.Array,
    *,
    depth: int,
    width: int,
    input_dim: int,
    nonlinearity: str,
    parameterization: str,
) -> jax.Array:
    """The network's outputs on ``inputs`` (rows are examples); see :class:`MLP`."""
    phi = _NONLINEARITIES[nonlinearity]
    explicit = parameterization != "standard"  # ntk and mean-field scale the forward pass
    hidden, fan_in = inputs, input_dim
    for layer in range(1, depth + 1):
        weights = params[f"W{layer}"] / math.sqrt(fan_in) if explicit else params[f"W{layer}"]
        hidden, fan_in = phi(hidden @ weights + params[f"b{layer}"]), width
    scale = {"standard": 1.0, "ntk": 1.0 / math.sqrt(width),
             "mean-field": 1.0 / width}[parameterization]
    return scale * (hidden @ params["a"])


def init_params(
    key: jax.Array,
    *,
    depth: int,
    width: int,
    input_dim: int,
    parameterization: str,
    init_scale: Any,
) -> dict[str, jax.Array]:
    """Initial weights ``{"W1", "b1", ..., "a"}`` for :func:`forward`; see :class:`MLP`."""
    keys = jax.random.split(key, depth + 1)
    standard = parameterization == "standard"
    params, fan_in = {}, input_dim
    for layer in range(1, depth + 1):
        std = init_scale / (math.sqrt(fan_in) if standard else 1.0)
        params[f"W{layer}"] = std * jax.random.normal(keys[layer - 1], (fan_in, width),
                                                      jnp.float32)
        params[f"b{layer}"] = jnp.zeros((width,), jnp.float32)
        fan_in = width
    std = init_scale / (math.sqrt(width) if standard else 1.0)
    params["a"] = std * jax.random.normal(keys[-1], (width,), jnp.float32)
    return params


@register("mlp")
class MLP(Landscape):
    r"""A fully connected network fitting a seeded teacher by mean squared error (full batch).

    Data: ``n_data`` inputs :math:`x_j \sim \mathcal N(0, I_d)` and targets
    :math:`y_j = \tanh(2\, w_*^\top x_j / \sqrt d) + \sigma \varepsilon_j`, all drawn once from
    ``data_seed``. The network with ``depth`` hidden layers of ``width`` units and nonlinearity
    :math:`\phi` is

    .. math::

        h_0 = x, \quad h_\ell = \phi\!\left(m_\ell W_\ell h_{\ell-1} + b_\ell\right),
        \quad f(x) = c\, a^\top h_L, \qquad
        L = \frac{1}{2 N} \sum_{j=1}^{N} \left(f(x_j) - y_j\right)^2 .

    ``standard``: weights :math:`\mathcal N(0, s^2/n_{\ell-1})`, :math:`m_\ell = c = 1` (what
    frameworks do by default). ``ntk``: weights :math:`\mathcal N(0, s^2)`,
    :math:`m_\ell = 1/\sqrt{n_{\ell-1}}`, :math:`c = 1/\sqrt{n_L}` (the same function at
    initialisation, a Hessian smaller by the fan-in in weight coordinates). ``mean-field``: as
    ``ntk`` but :math:`c = 1/n_L`. Here :math:`s` is ``init_scale`` and biases start at 0.
    Full-batch gradient descent in the standard parameterisation shows progressive sharpening:
    the top Hessian eigenvalue grows during training until it reaches :math:`2/\eta` and then
    hovers there, the edge of stability (Cohen et al., "Gradient descent on neural networks
    typically occurs at the edge of stability", 2021).

    Parameters are a dict ``{"W1", "b1", ..., "WL", "bL", "a"}``.

    Fields:
        width: units per hidden layer, >= 1.
        depth: hidden layers, >= 1.
        input_dim: :math:`d`, >= 1.
        n_data: :math:`N`, examples, >= 1.
        nonlinearity: ``"tanh"``, ``"relu"`` or ``"identity"``.
        parameterization: ``"standard"``, ``"ntk"`` or ``"mean-field"``.
        label_noise: :math:`\sigma \ge 0`, the targets' noise.
        init_scale: :math:`s \ge 0`, standard deviation of every initial weight.
        data_seed: seed of the data set (the same for every trajectory of a sweep).
    """

    width: int = static_field(32)
    depth: int = static_field(1)
    input_dim: int = static_field(5)
    n_data: int = static_field(64)
    nonlinearity: str = static_field("tanh")
    parameterization: str = static_field("standard")
    label_noise: float = 0.1
    init_scale: float = 1.0
    data_seed: int = static_field(0)
    inputs: jax.Array | None = derived_field()
    parts: jax.Array | None = derived_field()  # (2, N): clean teacher outputs and unit noise

    def _validate(self) -> None:
        for name in ("width", "depth", "input_dim", "n_data"):
            check_int(self, name, 1)
        check_int(self, "data_seed", 0)
        if self.nonlinearity not in _NONLINEARITIES:
            fail(self, "nonlinearity", self.nonlinearity, f"one of {tuple(_NONLINEARITIES)}")
        if self.parameterization not in _PARAMETERIZATIONS:
            fail(self, "parameterization", self.parameterization,
                 f"one of {_PARAMETERIZATIONS}")
        check_scalar(self, "label_noise", nonnegative=True)
        check_scalar(self, "init_scale", nonnegative=True)
        if self.inputs is None:
            inputs, parts = _teacher_data(self.n_data, self.input_dim, self.data_seed)
            object.__setattr__(self, "inputs", inputs)
            object.__setattr__(self, "parts", parts)

    @property
    def targets(self) -> jax.Array:
        return self.parts[0] + self.label_noise * self.parts[1]

    def output(self, params: dict[str, jax.Array], inputs: jax.Array) -> jax.Array:
        return forward(params, inputs, depth=self.depth, width=self.width,
                       input_dim=self.input_dim, nonlinearity=self.nonlinearity,
                       parameterization=self.parameterization)

    def loss(self, params: dict[str, jax.Array]) -> jax.Array:
        residual = self.output(params, self.inputs) - self.targets
        return 0.5 * jnp.mean(residual * residual)

    def init(self, key: jax.Array) -> dict[str, jax.Array]:
        return init_params(key, depth=self.depth, width=self.width, input_dim=self.input_dim,
                           parameterization=self.parameterization, init_scale=self.init_scale)
