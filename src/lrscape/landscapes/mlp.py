"""A small fully connected network on a seeded synthetic regression task (full batch)."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, derived_field, fail, static_field
from ._base import Landscape, float_dtype, register

_NONLINEARITIES = {"tanh": jnp.tanh, "relu": jax.nn.relu, "identity": lambda x: x}
_PARAMETERIZATIONS = ("standard", "ntk", "mean-field")


_TASKS = ("teacher", "random")


@functools.lru_cache(maxsize=32)
def _teacher_data(
    n_data: int, input_dim: int, seed: int, task: str = "teacher"
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs x ~ N(0, I), and clean targets (a single-index teacher's tanh(2 w* . x / sqrt d),
    or for ``task="random"`` independent N(0, 1) draws) with unit noise, in float64 (a sweep
    casts them to its dtype)."""
    rng = np.random.default_rng(seed)
    inputs = rng.standard_normal((n_data, input_dim))
    teacher = rng.standard_normal(input_dim)
    if task == "random":
        clean = rng.standard_normal(n_data)
    else:
        clean = np.tanh(inputs @ teacher / math.sqrt(input_dim) * 2.0)
    noise = rng.standard_normal(n_data)
    parts = np.stack([clean, noise])
    for arr in (inputs, parts):  # cached and shared: read-only
        arr.setflags(write=False)
    return inputs, parts


def count_params(*, depth: int, width: int, input_dim: int, bias: bool = True) -> int:
    """Number of parameters of the network of :func:`init_params`."""
    weights = input_dim * width + (depth - 1) * width * width + width
    return weights + (depth * width if bias else 0)


def layer_groups(params: dict[str, Any]) -> dict[str, str]:
    """Each parameter's layer, for per-layer hyperparameters: ``W1`` (and ``b1``) are the
    ``"input"`` layer, ``W2`` ... of deeper networks ``"hidden2"`` ..., the readout ``a`` the
    ``"output"`` layer."""
    labels = {}
    for name in params:
        if name == "a":
            labels[name] = "output"
        else:
            layer = int(name[1:])
            labels[name] = "input" if layer == 1 else f"hidden{layer}"
    return labels


def forward(
    params: dict[str, jax.Array],
    inputs: jax.Array,
    *,
    depth: int,
    width: int,
    input_dim: int,
    nonlinearity: str,
    parameterization: str,
    gain: Any = 1.0,
) -> jax.Array:
    """The network's outputs on ``inputs`` (rows are examples); see :class:`MLP`."""
    phi = _NONLINEARITIES[nonlinearity]
    explicit = parameterization != "standard"  # ntk and mean-field scale the forward pass
    hidden, fan_in = inputs, input_dim
    for layer in range(1, depth + 1):
        weights = params[f"W{layer}"] / math.sqrt(fan_in) if explicit else params[f"W{layer}"]
        if f"b{layer}" in params:
            hidden = hidden @ weights + params[f"b{layer}"]
        else:
            hidden = hidden @ weights
        hidden, fan_in = phi(gain * hidden), width
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
    bias: bool = True,
) -> dict[str, jax.Array]:
    """Initial weights ``{"W1", "b1", ..., "a"}`` (without the ``b``'s when ``bias`` is
    False) for :func:`forward`; see :class:`MLP`."""
    keys = jax.random.split(key, depth + 1)
    standard, dtype = parameterization == "standard", float_dtype(init_scale)
    params, fan_in = {}, input_dim
    for layer in range(1, depth + 1):
        std = init_scale / (math.sqrt(fan_in) if standard else 1.0)
        params[f"W{layer}"] = std * jax.random.normal(keys[layer - 1], (fan_in, width), dtype)
        if bias:
            params[f"b{layer}"] = jnp.zeros((width,), dtype)
        fan_in = width
    std = init_scale / (math.sqrt(width) if standard else 1.0)
    params["a"] = std * jax.random.normal(keys[-1], (width,), dtype)
    return params


@register("mlp")
class MLP(Landscape):
    r"""A fully connected network fitting a seeded data set by mean squared error (full batch).

    Data: ``n_data`` inputs :math:`x_j \sim \mathcal N(0, I_d)` and targets
    :math:`y_j = \tanh(2\, w_*^\top x_j / \sqrt d) + \sigma \varepsilon_j` (``task="teacher"``)
    or :math:`y_j \sim \mathcal N(0, 1)` plus the same noise (``task="random"``), all drawn
    once from ``data_seed``. With ``data_ratio`` set, ``n_data`` is that multiple of the
    number of parameters. The network with ``depth`` hidden layers of ``width`` units and
    nonlinearity :math:`\phi` is

    .. math::

        h_0 = x, \quad h_\ell = \phi\!\left(g\,(m_\ell W_\ell h_{\ell-1} + b_\ell)\right),
        \quad f(x) = c\, a^\top h_L, \qquad
        L = \frac{1}{2 N} \sum_{j=1}^{N} \left(f(x_j) - y_j\right)^2 .

    ``standard``: weights :math:`\mathcal N(0, s^2/n_{\ell-1})`, :math:`m_\ell = c = 1` (what
    frameworks do by default). ``ntk``: weights :math:`\mathcal N(0, s^2)`,
    :math:`m_\ell = 1/\sqrt{n_{\ell-1}}`, :math:`c = 1/\sqrt{n_L}` (the same function at
    initialisation, a Hessian smaller by the fan-in in weight coordinates). ``mean-field``: as
    ``ntk`` but :math:`c = 1/n_L`. Here :math:`s` is ``init_scale``, :math:`g` is ``gain``
    (1 by default) and biases start at 0.
    Full-batch gradient descent in the standard parameterisation shows progressive sharpening:
    the top Hessian eigenvalue grows during training until it reaches :math:`2/\eta` and then
    hovers there, the edge of stability (Cohen et al., "Gradient descent on neural networks
    typically occurs at the edge of stability", 2021).

    Parameters are a dict ``{"W1", "b1", ..., "WL", "bL", "a"}`` (no ``b``'s with
    ``bias=False``), in three kinds of groups for per-layer hyperparameters (grid axes such as
    ``"learning_rate@input"``): ``"input"`` (layer 1), ``"hidden2"`` ... ``"hiddenL"``, and
    ``"output"`` (the readout :math:`a`).

    The trainability-boundary network (Sohl-Dickstein, "The boundary of neural network
    trainability is fractal", 2024) is ``MLP(width=16, depth=1, input_dim=16,
    parameterization="mean-field", bias=False, task="random", data_ratio=1.0,
    label_noise=0.0)`` trained in float64 with one learning rate per layer, except for two
    details: the paper's network multiplies the pre-activations by :math:`\sqrt 2`
    (``gain=math.sqrt(2)`` here) and its loss has no :math:`\tfrac12`, so the paper's rates
    :math:`(\eta_\text{in}, \eta_\text{out})` are lrscape's :math:`(2\eta_\text{in},
    2\eta_\text{out})` on ``gain=math.sqrt(2)``. (Without ``gain``, the same network is
    reached with the input weights scaled by :math:`\sqrt 2` at initialisation and the rates
    multiplied by 4 for the input layer and 2 for the output layer.) For minibatches on the
    same network, see
    :class:`~lrscape.landscapes.TeacherStudent`.

    Fields:
        width: units per hidden layer, >= 1.
        depth: hidden layers, >= 1.
        input_dim: :math:`d`, >= 1.
        n_data: :math:`N`, examples, >= 1.
        nonlinearity: ``"tanh"``, ``"relu"`` or ``"identity"``.
        parameterization: ``"standard"``, ``"ntk"`` or ``"mean-field"``.
        label_noise: :math:`\sigma \ge 0`, the targets' noise.
        init_scale: :math:`s \ge 0`, standard deviation of every initial weight.
        gain: :math:`g`, the factor on every hidden layer's pre-activation.
        data_seed: seed of the data set (the same for every trajectory of a sweep).
        bias: whether the hidden layers have biases.
        task: ``"teacher"`` or ``"random"`` targets.
        data_ratio: examples per parameter; when set, ``n_data`` is ignored.
    """

    width: int = static_field(32)
    depth: int = static_field(1)
    input_dim: int = static_field(5)
    n_data: int = static_field(64)
    nonlinearity: str = static_field("tanh")
    parameterization: str = static_field("standard")
    label_noise: float = 0.1
    init_scale: float = 1.0
    gain: float = 1.0
    data_seed: int = static_field(0)
    bias: bool = static_field(True)
    task: str = static_field("teacher")
    data_ratio: float | None = static_field(None)
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
        check_scalar(self, "gain")
        if not isinstance(self.bias, bool):
            fail(self, "bias", self.bias, "True or False")
        if self.task not in _TASKS:
            fail(self, "task", self.task, f"one of {_TASKS}")
        if self.data_ratio is not None:
            check_scalar(self, "data_ratio", positive=True)
        if self.inputs is None:
            inputs, parts = _teacher_data(self.n_examples, self.input_dim, self.data_seed,
                                          self.task)
            object.__setattr__(self, "inputs", inputs)
            object.__setattr__(self, "parts", parts)

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return count_params(depth=self.depth, width=self.width, input_dim=self.input_dim,
                            bias=self.bias)

    @property
    def n_examples(self) -> int:
        """Examples in the data set: ``n_data``, or ``data_ratio`` per parameter."""
        if self.data_ratio is None:
            return self.n_data
        return max(1, round(self.data_ratio * self.n_params))

    def parameter_groups(self, params: dict[str, Any]) -> dict[str, str]:
        return layer_groups(params)

    @property
    def targets(self) -> jax.Array:
        return self.parts[0] + self.label_noise * self.parts[1]

    def output(self, params: dict[str, jax.Array], inputs: jax.Array) -> jax.Array:
        return forward(params, inputs, depth=self.depth, width=self.width,
                       input_dim=self.input_dim, nonlinearity=self.nonlinearity,
                       parameterization=self.parameterization, gain=self.gain)

    def loss(self, params: dict[str, jax.Array]) -> jax.Array:
        residual = self.output(params, self.inputs) - self.targets
        return 0.5 * jnp.mean(residual * residual)

    def init(self, key: jax.Array) -> dict[str, jax.Array]:
        return init_params(key, depth=self.depth, width=self.width, input_dim=self.input_dim,
                           parameterization=self.parameterization, init_scale=self.init_scale,
                           bias=self.bias)
