r"""The twin's model: a noisy quadratic with a power-law spectrum, and its expected log.

The twin is the noisy quadratic model (:class:`~lrscape.landscapes.NoisyQuadratic`) with
curvatures :math:`h_i = h_1\, i^{-\alpha}` (:math:`i = 1..n`), every coordinate starting at
:math:`x_0` (so the initial loss above the floor is :math:`L_0 = \tfrac12 x_0^2 \sum_i h_i`),
gradient noise of variance :math:`\nu h_i` in direction :math:`i` (:math:`\nu = \sigma^2/B`:
noise scale over batch size) and a loss floor :math:`c` the quadratic cannot reach (the
irreducible part of a real loss). What a training loop logs is, in expectation,

.. math::

    \mathbb E[\text{loss}_k] = c + \frac{1}{s_k - s_{k-1}} \sum_{t=s_{k-1}}^{s_k - 1}
    \tfrac12 \sum_i h_i\, \mathbb E[x_{t,i}^2],

the mean over the row's updates of the expected loss at the iterate each update starts from,
and a validation snapshot :math:`c_{\text{val}} + \tfrac12\sum_i h_i \mathbb E[x_{s_k,i}^2]`.
Per direction, the second moments :math:`z = (\mathbb E x^2, \mathbb E xm, \mathbb E m^2)` of
SGD with heavy-ball momentum evolve by an affine map :math:`z^+ = M z + u` (the recursion of
:func:`lrscape.theory.nqm_expected_loss`), constant while the rate is. Appending a 1 and a
running sum of :math:`\mathbb E x^2` to :math:`z` makes that map linear, a 5x5 matrix
:math:`T`; a row of :math:`m` updates is :math:`T^m`, computed by repeated squaring, so the
cost of a log grows with its rows and :math:`\log_2` of its longest row, not with its steps.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Parameters(NamedTuple):
    """The twin's fitted numbers (floats, or arrays with a leading replicate axis).

    Attributes:
        top_curvature: :math:`h_1`, the largest curvature (the sharpness).
        exponent: :math:`\\alpha` of the spectrum :math:`h_i = h_1 i^{-\\alpha}`.
        initial_loss: :math:`L_0`, the loss at step 0 above the floor.
        noise: :math:`\\nu`, the gradient noise variance per unit curvature
            (:math:`\\sigma^2/B`).
        offset: :math:`c`, the training loss's floor.
        val_offset: :math:`c_{\\text{val}}`, the validation loss's floor (NaN without one).
    """

    top_curvature: jax.Array
    exponent: jax.Array
    initial_loss: jax.Array
    noise: jax.Array
    offset: jax.Array
    val_offset: jax.Array


def eigenvalues(top_curvature: jax.Array, exponent: jax.Array, dim: int) -> jax.Array:
    r""":math:`h_i = h_1 i^{-\alpha}` for :math:`i = 1..n`."""
    i = jnp.arange(1, dim + 1, dtype=jnp.result_type(float))
    return top_curvature * i ** (-exponent)


def start_square(p: Parameters, h: jax.Array) -> jax.Array:
    r""":math:`x_0^2 = 2 L_0 / \sum_i h_i`."""
    return 2.0 * p.initial_loss / jnp.sum(h)


def _row_map(h: jax.Array, rate: jax.Array, momentum: float, noise: jax.Array) -> jax.Array:
    """The 5x5 linear map of one update per direction, ``(n, 5, 5)``, on (z, 1, running sum)."""
    a11, a21 = 1.0 - rate * h, h
    a12, a22 = jnp.full_like(h, -momentum) * rate, jnp.full_like(h, momentum)
    v = noise * h
    zero, one = jnp.zeros_like(h), jnp.ones_like(h)
    rows = [
        [a11 * a11, 2 * a11 * a12, a12 * a12, v * rate * rate, zero],
        [a11 * a21, a11 * a22 + a12 * a21, a12 * a22, -v * rate, zero],
        [a21 * a21, 2 * a21 * a22, a22 * a22, v, zero],
        [zero, zero, zero, one, zero],
        [one, zero, zero, zero, one],
    ]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


def _power(t: jax.Array, m: jax.Array, bits: int) -> jax.Array:
    """``t ** m`` per direction by repeated squaring; ``m`` is traced, below ``2 ** bits``."""
    result = jnp.broadcast_to(jnp.eye(t.shape[-1], dtype=t.dtype), t.shape)
    square = t
    for k in range(bits):
        take = (m >> k) & 1
        result = jnp.where(take == 1, result @ square, result)
        square = square @ square
    return result


def expected_log(p: Parameters, rates: jax.Array, windows: jax.Array, *, dim: int,
                 momentum: float, bits: int) -> tuple[jax.Array, jax.Array]:
    """The expected window-mean loss and end-of-row snapshot of every row (without offsets).

    ``rates`` and ``windows`` (int, updates per row) have one value per row; ``bits`` bounds
    the longest window (``max(windows) < 2 ** bits``). Without momentum the rows have a
    closed form (:func:`_sgd_row`); with it, the 5x5 map is raised to each row's length.
    """
    h = eigenvalues(p.top_curvature, p.exponent, dim)
    x2 = start_square(p, h)
    if momentum == 0.0:
        def sgd_row(s, inputs):
            s, total = _sgd_row(s, h, *inputs, p.noise)
            return s, (0.5 * jnp.sum(h * total) / inputs[1], 0.5 * jnp.sum(h * s))

        _, (means, snapshots) = jax.lax.scan(sgd_row, jnp.full_like(h, x2), (rates, windows))
        return means, snapshots
    y0 = jnp.stack([jnp.full_like(h, x2), jnp.zeros_like(h), jnp.zeros_like(h),
                    jnp.ones_like(h), jnp.zeros_like(h)], axis=-1)

    def row(y, inputs):
        rate, m = inputs
        y = y.at[:, 4].set(0.0)
        y = jnp.einsum("nij,nj->ni", _power(_row_map(h, rate, momentum, p.noise), m, bits), y)
        mean = 0.5 * jnp.sum(h * y[:, 4]) / m
        snapshot = 0.5 * jnp.sum(h * y[:, 0])
        return y, (mean, snapshot)

    _, (means, snapshots) = jax.lax.scan(row, y0, (rates, windows))
    return means, snapshots


def _sgd_row(s: jax.Array, h: jax.Array, rate: jax.Array, m: jax.Array, noise: jax.Array
             ) -> tuple[jax.Array, jax.Array]:
    r"""SGD's :math:`\mathbb E x^2` after ``m`` updates at ``rate``, and its sum over them.

    With :math:`e = \eta h`, :math:`q = (1-e)^2` and the fixed point
    :math:`s_\infty = \nu\eta / (2 - e)` of :math:`s^+ = q s + \nu h \eta^2`:
    :math:`s_m = s_\infty + q^m (s - s_\infty)` and
    :math:`\sum_{j<m} s_j = m s_\infty + (s - s_\infty)(1 - q^m)/(1 - q)`, with
    :math:`1 - q = e(2 - e)` and :math:`1 - q^m` from ``expm1`` so that neither cancels.
    """
    e = rate * h
    log_q = 2.0 * jnp.log(jnp.abs(1.0 - e))
    q_m = jnp.exp(m * log_q)
    geometric = -jnp.expm1(m * log_q) / (e * (2.0 - e))
    fixed = noise * rate / (2.0 - e)
    return fixed + q_m * (s - fixed), m * fixed + (s - fixed) * geometric


def bits_for(windows: np.ndarray) -> int:
    """The number of squarings that cover the longest window."""
    return max(1, int(np.max(windows)).bit_length())
