"""Draw one trajectory of each regime for docs/concepts/regimes.md.

Run: python docs/labels/make_figures.py.

Each panel is a real sweep of one point, labelled by lrscape itself: the title shows the label
the classifier gave, so a figure that disagrees with its caption is a bug you can see.
"""

from __future__ import annotations

import pathlib

import jax
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import lrscape  # noqa: E402
from lrscape import Regime  # noqa: E402
from lrscape.plot import REGIME_COLORS  # noqa: E402

HERE = pathlib.Path(__file__).parent

# (regime expected, landscape, optimizer name, hyperparameters, steps, what it shows)
CASES = [
    ("MONOTONE", lrscape.landscapes.get("double-well", start=1.5), "sgd",
     {"learning_rate": 0.3}, 60, "gradient descent, double well, ηf'' = 0.6"),
    ("OSCILLATORY", lrscape.landscapes.get("double-well", start=1.5), "sgd",
     {"learning_rate": 0.85}, 60, "gradient descent, double well, ηf'' = 1.7"),
    ("RINGING", lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 0.3], start=1.0),
     "momentum", {"learning_rate": 0.3, "momentum": 0.8}, 80,
     "heavy ball β = 0.8, quadratic, ηλ = 0.3"),
    ("PERIODIC", lrscape.landscapes.get("double-well", start=0.5), "sgd",
     {"learning_rate": 1.25}, 60, "gradient descent, double well, η = 1.25: period 4"),
    ("CHAOTIC", lrscape.landscapes.get("double-well", start=0.5), "sgd",
     {"learning_rate": 1.6}, 60, "gradient descent, double well, η = 1.6"),
    ("DIVERGED", lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 0.3], start=1.0),
     "sgd", {"learning_rate": 2.1}, 40, "gradient descent, quadratic, ηλ = 2.1"),
]


def path(landscape, name: str, hyper: dict, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The iterates and losses of a plain optax loop, for drawing (the label comes from
    lrscape.sweep on the same settings)."""
    tx = optax.sgd(nesterov=False, **hyper) if name in ("sgd", "momentum") else None
    params = landscape.init(jax.random.key(0))
    state = tx.init(params)
    xs, losses = [np.asarray(params)], [float(landscape.loss(params))]
    for _ in range(steps):
        grads = jax.grad(landscape.loss)(params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        if not np.all(np.isfinite(np.asarray(params))) or abs(float(landscape.loss(params))) > 1e8:
            break
        xs.append(np.asarray(params))
        losses.append(float(landscape.loss(params)))
    return np.array(xs).reshape(len(xs), -1), np.array(losses)


def label(landscape, name: str, hyper: dict, steps: int) -> tuple[Regime, float]:
    grid = {k: [v] for k, v in hyper.items()}
    ds = lrscape.sweep(landscape, name, grid, steps=max(steps, 400), progress=False,
                       dtype="float64")
    return Regime(int(ds.regime.values.ravel()[0])), float(ds.label_margin.values.ravel()[0])


def main() -> None:
    fig, axes = plt.subplots(2, len(CASES), figsize=(3.2 * len(CASES), 6.2))
    for col, (expected, landscape, name, hyper, steps, text) in enumerate(CASES):
        regime, margin = label(landscape, name, hyper, steps)
        color = REGIME_COLORS[regime]
        xs, losses = path(landscape, "momentum" if name == "momentum" else "sgd", hyper, steps)
        top, bottom = axes[0, col], axes[1, col]
        top.semilogy(np.maximum(losses, 1e-16), color=color, lw=1.4)
        top.set_title(f"{regime.name} (margin {margin:.2f})\n{text}", fontsize=8.5)
        top.set_xlabel("step")
        top.set_ylabel("loss (log scale)")
        if xs.shape[1] == 1:
            bottom.plot(xs[:, 0], color=color, marker=".", ms=3, lw=0.8)
            for minimum in (-1.0, 1.0):
                bottom.axhline(minimum, color="0.5", ls=":", lw=0.8)
            bottom.set_xlabel("step")
            bottom.set_ylabel("x (dotted: the minima ±1)")
        else:
            bottom.plot(xs[:, 0], xs[:, 1], color=color, marker=".", ms=3, lw=0.8)
            bottom.plot([0], [0], marker="*", color="k", ms=8, ls="")
            bottom.set_xlabel("x₀")
            bottom.set_ylabel("x₁ (star: the minimum)")
        assert regime.name == expected, (expected, regime, text)
    fig.suptitle("One trajectory of each regime, labelled by lrscape (float64 sweeps)")
    fig.tight_layout()
    fig.savefig(HERE / "regimes.png", dpi=110)


if __name__ == "__main__":
    main()
