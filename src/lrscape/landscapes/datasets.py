"""Finite-sum landscapes: seeded synthetic datasets, minibatches by epoch, a validation split.

Each task draws ``n_train + n_val`` examples from ``data_seed`` (a traced field: the same data
for every trajectory of a sweep unless ``data_seed`` is itself a grid axis) and defines a
per-example loss and a per-example notion of "correct". Training follows what a data loader
does: at the start of every epoch the training set is shuffled (from the trajectory's own key),
then cut into ``n_train // batch_size`` minibatches without replacement; the last
``n_train % batch_size`` examples of each shuffle sit that epoch out, as with
``drop_last=True``.

>>> import lrscape
>>> task = lrscape.landscapes.get("linear-regression", n_train=256, batch_size=32)
>>> task.steps_per_epoch
8
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._fields import check_int, check_scalar, derived_field, fail, is_concrete, static_field
from ._base import Params, UniformStart, float_dtype, register
from .mlp import forward, init_params, layer_groups
from .stochastic import StochasticLandscape


class Split(NamedTuple):
    """A dataset: training and validation inputs and targets (rows are examples)."""

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class FiniteSum(StochasticLandscape):
    """Base class of the dataset tasks: the fields, minibatching and evaluation they share.

    Subclasses define :meth:`_draw` (the examples), :meth:`predict`, :meth:`example_loss`
    and :meth:`correct`, and their own ``init``.
    """

    label_noise: float = 0.5
    data_seed: int = 0
    n_train: int = static_field(1024)
    n_val: int = static_field(512)
    batch_size: int = static_field(32)
    data: Split | None = derived_field()

    def _validate(self) -> None:
        check_int(self, "n_train", 1)
        check_int(self, "n_val", 1)
        check_int(self, "batch_size", 1)
        if self.batch_size > self.n_train:
            fail(self, "batch_size", self.batch_size,
                 f"at most the training set's size `n_train` = {self.n_train}")
        check_scalar(self, "label_noise", nonnegative=True)
        check_scalar(self, "data_seed", nonnegative=True)
        seed = self.data_seed
        if is_concrete(seed) and float(np.asarray(seed)) != math.floor(float(np.asarray(seed))):
            fail(self, "data_seed", seed, "a whole number")

    # -- data ------------------------------------------------------------------------------

    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """``n`` examples (inputs, targets) from ``key``; the teacher depends on ``key`` only."""
        raise NotImplementedError

    @property
    def _dtype(self) -> Any:
        """The floating-point type the examples are drawn in: the sweep's in a sweep."""
        return float_dtype(self.label_noise)

    def _generate(self) -> Split:
        seed = jnp.asarray(self.data_seed).astype(jnp.uint32)
        inputs, targets = self._draw(jax.random.key(seed), self.n_train + self.n_val)
        n = self.n_train
        return Split(inputs[:n], targets[:n], inputs[n:], targets[n:])

    @property
    def dataset(self) -> Split:
        """The examples: drawn once by :meth:`prepare`, else drawn on every access."""
        return self.data if self.data is not None else self._generate()

    def prepare(self) -> FiniteSum:
        return dataclasses.replace(self, data=self._generate())

    def replace(self, **fields: Any) -> FiniteSum:
        # Any field may change the data: drop it; prepare() draws it again.
        return dataclasses.replace(self, data=None, **fields)

    # -- the model -------------------------------------------------------------------------

    def predict(self, params: Params, inputs: jax.Array) -> jax.Array:
        """The model's outputs on ``inputs``."""
        raise NotImplementedError

    def example_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """The loss of each example."""
        raise NotImplementedError

    def correct(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        """Whether each example counts as correct (for the accuracy)."""
        raise NotImplementedError

    def _mean_loss(self, params: Params, inputs: jax.Array, targets: jax.Array) -> jax.Array:
        return jnp.mean(self.example_loss(self.predict(params, inputs), targets))

    def loss(self, params: Params) -> jax.Array:
        """The full training loss (the mean over all ``n_train`` examples)."""
        data = self.dataset
        return self._mean_loss(params, data.x_train, data.y_train)

    def metrics(self, params: Params) -> dict[str, jax.Array]:
        """What an end-of-epoch evaluation logs: loss and accuracy on both splits."""
        data = self.dataset
        out = {}
        for split, (x, y) in (("train", (data.x_train, data.y_train)),
                              ("val", (data.x_val, data.y_val))):
            outputs = self.predict(params, x)
            out[f"{split}_loss"] = jnp.mean(self.example_loss(outputs, y))
            out[f"{split}_accuracy"] = jnp.mean(self.correct(outputs, y).astype(outputs.dtype))
        return out

    # -- minibatches -----------------------------------------------------------------------

    @property
    def steps_per_epoch(self) -> int:
        return self.n_train // self.batch_size

    def sampler(self, key: jax.Array) -> dict[str, jax.Array]:
        return {"key": key, "order": jnp.arange(self.n_train, dtype=jnp.int32)}

    def sample(
        self, state: dict[str, jax.Array], step: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        per_epoch = self.steps_per_epoch
        position = step % per_epoch

        def reshuffle(state: dict[str, jax.Array]) -> dict[str, jax.Array]:
            key = jax.random.fold_in(state["key"], step // per_epoch)
            return {"key": state["key"],
                    "order": jax.random.permutation(key, self.n_train).astype(jnp.int32)}

        # ``step`` is shared by the whole batch of trajectories, so under vmap this stays a
        # branch: the shuffle runs once per epoch, not at every step.
        state = jax.lax.cond(position == 0, reshuffle, lambda s: s, state)
        indices = jax.lax.dynamic_slice_in_dim(state["order"], position * self.batch_size,
                                               self.batch_size)
        return indices, state

    def batch_loss(self, params: Params, batch: jax.Array) -> jax.Array:
        data = self.dataset
        return self._mean_loss(params, data.x_train[batch], data.y_train[batch])


def _curvatures(dim: int, wall: Any, floor: Any, dtype: Any) -> jax.Array:
    """``dim`` feature variances, geometric from ``wall`` down to ``floor``, in ``dtype``."""
    if dim == 1:
        return jnp.reshape(jnp.asarray(wall, dtype), (1,))
    fraction = jnp.linspace(0.0, 1.0, dim, dtype=dtype)
    return jnp.exp((1 - fraction) * jnp.log(wall) + fraction * jnp.log(floor))


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class _LinearTask(UniformStart, FiniteSum):
    """Shared by the two linear models: anisotropic Gaussian features (a narrow valley)."""

    dim: int = static_field(2)
    wall_curvature: float = 10.0
    floor_curvature: float = 0.1
    start: float = 0.0

    def _validate(self) -> None:
        FiniteSum._validate(self)
        check_int(self, "dim", 1)
        check_scalar(self, "wall_curvature", positive=True)
        check_scalar(self, "floor_curvature", positive=True)
        check_scalar(self, "start")

    def _teacher_signal(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Inputs and the teacher's noisy signal w*.x + label_noise * N(0, 1)."""
        inputs, teacher = self._features(key, n)
        noise = jax.random.normal(jax.random.fold_in(key, 1), (n,), self._dtype)
        return inputs, inputs @ teacher + self.label_noise * noise

    def _features(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """Inputs with covariance diag(h) and the teacher's weights w* ~ N(0, I)."""
        k_x, k_w = jax.random.split(key)
        dtype = self._dtype
        scales = jnp.sqrt(_curvatures(self.dim, self.wall_curvature, self.floor_curvature,
                                      dtype))
        inputs = jax.random.normal(k_x, (n, self.dim), dtype) * scales
        teacher = jax.random.normal(k_w, (self.dim,), dtype)
        return inputs, teacher

    def predict(self, params: jax.Array, inputs: jax.Array) -> jax.Array:
        return inputs @ params


@register("linear-regression")
class LinearRegression(_LinearTask):
    r"""Least squares on anisotropic Gaussian features: a narrow valley made of data.

    .. math::

        x_j \sim \mathcal N(0, \mathrm{diag}(h)), \quad
        y_j = w_*^\top x_j + \sigma \varepsilon_j, \qquad
        L(w) = \frac{1}{2N} \sum_{j=1}^{N} \left(w^\top x_j - y_j\right)^2,

    with :math:`w_* \sim \mathcal N(0, I)` and :math:`\varepsilon_j \sim \mathcal N(0, 1)`
    drawn from ``data_seed``. The Hessian is the features' empirical covariance, close to
    :math:`\mathrm{diag}(h)`, whose entries run geometrically from ``wall_curvature`` (the
    valley's steep walls) down to ``floor_curvature`` (its slowly declining floor); SGD on
    minibatches of :math:`B` examples sees that valley through noisy gradients. An example
    counts as correct when its prediction has the target's sign.

    Fields:
        dim: the number of features and weights.
        wall_curvature: :math:`h_1`, the largest feature variance.
        floor_curvature: :math:`h_d`, the smallest feature variance.
        label_noise: :math:`\sigma \ge 0`.
        start: every weight starts here.
        data_seed: seed of the data set and the teacher (sweepable, whole numbers).
        n_train, n_val: sizes of the training and validation sets.
        batch_size: :math:`B`, examples per minibatch (at most ``n_train``).
    """

    start: float = 3.0

    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        return self._teacher_signal(key, n)

    def example_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return 0.5 * (outputs - targets) ** 2

    def correct(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return jnp.sign(outputs) == jnp.sign(targets)


@register("logistic-regression")
class LogisticRegression(_LinearTask):
    r"""Binary logistic regression on anisotropic Gaussian features.

    .. math::

        x_j \sim \mathcal N(0, \mathrm{diag}(h)), \quad
        y_j = \mathbb 1\!\left[w_*^\top x_j + \sigma \varepsilon_j > 0\right], \qquad
        L(w) = \frac1N \sum_{j=1}^{N} \log\!\left(1 + e^{-s_j w^\top x_j}\right),
        \quad s_j = 2 y_j - 1,

    with :math:`w_* \sim \mathcal N(0, I)` and :math:`\varepsilon_j \sim \mathcal N(0, 1)`
    drawn from ``data_seed`` (:math:`\sigma` flips the labels near the teacher's boundary).
    The feature variances :math:`h` run geometrically from ``wall_curvature`` to
    ``floor_curvature``. An example is correct when :math:`s_j w^\top x_j > 0`.

    Fields:
        dim: the number of features and weights.
        wall_curvature: :math:`h_1`, the largest feature variance.
        floor_curvature: :math:`h_d`, the smallest feature variance.
        label_noise: :math:`\sigma \ge 0`.
        start: every weight starts here.
        data_seed: seed of the data set and the teacher (sweepable, whole numbers).
        n_train, n_val: sizes of the training and validation sets.
        batch_size: :math:`B`, examples per minibatch (at most ``n_train``).
    """

    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        inputs, signal = self._teacher_signal(key, n)
        return inputs, (signal > 0).astype(inputs.dtype)

    def example_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return jax.nn.softplus(-(2 * targets - 1) * outputs)

    def correct(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return (2 * targets - 1) * outputs > 0


@register("teacher-student")
class TeacherStudent(FiniteSum):
    r"""A student network fitting a random teacher network's outputs by mean squared error.

    .. math::

        x_j \sim \mathcal N(0, I_d), \quad
        y_j = \frac{1}{\sqrt{m}} \, a_*^\top \tanh\!\left(W_*^\top x_j / \sqrt d\right)
        + \sigma \varepsilon_j, \qquad
        L(\theta) = \frac{1}{2N} \sum_{j=1}^{N} \left(f_\theta(x_j) - y_j\right)^2,

    where the teacher (width :math:`m` = ``teacher_width``, weights :math:`\mathcal N(0,1)`)
    and the noise come from ``data_seed``, and the student :math:`f_\theta` is the network of
    :class:`~lrscape.landscapes.MLP` (``depth`` hidden layers of ``width`` units, the given
    nonlinearity and parameterization). An example is correct when the prediction has the
    target's sign. Parameters are a dict ``{"W1", "b1", ..., "a"}``.

    Fields:
        width, depth: the student's hidden units per layer and hidden layers.
        input_dim: :math:`d`.
        teacher_width: :math:`m`.
        nonlinearity: ``"tanh"``, ``"relu"`` or ``"identity"`` (the student's).
        parameterization: ``"standard"``, ``"ntk"`` or ``"mean-field"``.
        init_scale: standard deviation of the student's initial weights (see ``MLP``).
        label_noise: :math:`\sigma \ge 0`.
        data_seed: seed of the data set and the teacher (sweepable, whole numbers).
        n_train, n_val: sizes of the training and validation sets.
        batch_size: :math:`B`, examples per minibatch (at most ``n_train``).
        bias: whether the student's hidden layers have biases.

    Per-layer hyperparameters: the groups of :class:`~lrscape.landscapes.MLP` (``"input"``,
    ``"hidden2"`` ..., ``"output"``).
    """

    label_noise: float = 0.1
    init_scale: float = 1.0
    width: int = static_field(32)
    depth: int = static_field(1)
    input_dim: int = static_field(8)
    teacher_width: int = static_field(4)
    nonlinearity: str = static_field("tanh")
    parameterization: str = static_field("standard")
    bias: bool = static_field(True)

    def _validate(self) -> None:
        FiniteSum._validate(self)
        if not isinstance(self.bias, bool):
            fail(self, "bias", self.bias, "True or False")
        for name in ("width", "depth", "input_dim", "teacher_width"):
            check_int(self, name, 1)
        if self.nonlinearity not in ("tanh", "relu", "identity"):
            fail(self, "nonlinearity", self.nonlinearity, "'tanh', 'relu' or 'identity'")
        if self.parameterization not in ("standard", "ntk", "mean-field"):
            fail(self, "parameterization", self.parameterization,
                 "'standard', 'ntk' or 'mean-field'")
        check_scalar(self, "init_scale", nonnegative=True)

    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        k_x, k_w, k_a, k_e = jax.random.split(key, 4)
        dtype = self._dtype
        inputs = jax.random.normal(k_x, (n, self.input_dim), dtype)
        weights = jax.random.normal(k_w, (self.input_dim, self.teacher_width), dtype)
        readout = jax.random.normal(k_a, (self.teacher_width,), dtype)
        hidden = jnp.tanh(inputs @ weights / math.sqrt(self.input_dim))
        clean = hidden @ readout / math.sqrt(self.teacher_width)
        return inputs, clean + self.label_noise * jax.random.normal(k_e, (n,), dtype)

    def predict(self, params: dict[str, jax.Array], inputs: jax.Array) -> jax.Array:
        return forward(params, inputs.astype(params["a"].dtype), depth=self.depth,
                       width=self.width, input_dim=self.input_dim,
                       nonlinearity=self.nonlinearity, parameterization=self.parameterization)

    def init(self, key: jax.Array) -> dict[str, jax.Array]:
        return init_params(key, depth=self.depth, width=self.width, input_dim=self.input_dim,
                           parameterization=self.parameterization, init_scale=self.init_scale,
                           bias=self.bias)

    def parameter_groups(self, params: dict[str, Any]) -> dict[str, str]:
        return layer_groups(params)

    def example_loss(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return 0.5 * (outputs - targets) ** 2

    def correct(self, outputs: jax.Array, targets: jax.Array) -> jax.Array:
        return jnp.sign(outputs) == jnp.sign(targets)
