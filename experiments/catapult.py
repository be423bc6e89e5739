"""The catapult: lazy training, a loss spike that flattens the landscape, or divergence.

    python experiments/catapult.py [--out experiments/out]

The two-layer linear network f = v.u / sqrt(n) on one example with loss f^2 / 2 (the uv model)
has curvature lambda = (|u|^2 + |v|^2) / n (its NTK). Lewkowycz et al. (2020): gradient descent
with eta * lambda0 < 2 trains lazily (lambda barely moves); with 2 < eta * lambda0 < 4 the loss
first grows, lambda drops below 2 / eta, and then it converges (the catapult: large-rate
instability that flattens the landscape); beyond 4 it diverges. For each width, one sweep over
eta * lambda0 (lambda0 measured at that width's initialisation) records the final sharpness and
the peak loss. Writes catapult.png: the phase diagram over eta * lambda0 and width, the final
eta * lambda, and the peak loss ratio, with the phases' boundaries at 2 and 4 marked.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import lrscape  # noqa: E402

PHASES = ("lazy", "catapult", "diverged")
PHASE_COLORS = ("#4C72B0", "#DD8452", "#C44E52")


def sweep_width(width: int, ratios: np.ndarray, steps: int) -> dict[str, np.ndarray]:
    uv = lrscape.landscapes.get("uv-model", width=width)
    x0 = uv.init(jax.random.key(0))
    lam0 = float(uv.ntk(x0))
    lrs = ratios / lam0
    ds = lrscape.sweep(uv, "sgd", {"learning_rate": lrs}, x0=x0, steps=steps,
                       curvature_every=steps, progress=False)
    diverged = ds.regime.values == lrscape.Regime.DIVERGED
    spiked = ds.peak_loss_ratio.values > 2.0
    phase = np.where(diverged, 2, np.where(spiked, 1, 0))
    return {"phase": phase, "final": ds.sharpness.values[:, -1] * lrs,
            "peak": ds.peak_loss_ratio.values, "lam0": lam0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ratios = lrscape.linspace(0.2, 5.0, 241)
    widths = [10, 30, 100, 300, 1000, 3000]
    rows = [sweep_width(w, ratios, args.steps) for w in widths]
    phase = np.stack([r["phase"] for r in rows])

    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), constrained_layout=True)
    ax = axes[0]
    edges_y = np.sqrt(np.array(widths[:-1]) * np.array(widths[1:]))
    edges_y = np.concatenate([[widths[0] ** 2 / edges_y[0]], edges_y,
                              [widths[-1] ** 2 / edges_y[-1]]])
    step = ratios[1] - ratios[0]
    edges_x = np.concatenate([ratios - step / 2, [ratios[-1] + step / 2]])
    ax.pcolormesh(edges_x, edges_y, phase, cmap=ListedColormap(PHASE_COLORS), vmin=-0.5,
                  vmax=2.5)
    ax.set_yscale("log")
    ax.set_xlabel("η λ₀ (learning rate × initial curvature)")
    ax.set_ylabel("width n (log scale)")
    ax.set_title("uv model: phase of gradient descent")
    for edge in (2.0, 4.0):
        ax.axvline(edge, color="black", ls="--", lw=1.2)
    handles = [Patch(color=c, label=p) for p, c in zip(PHASES, PHASE_COLORS, strict=True)]
    handles.append(plt.Line2D([], [], color="black", ls="--", label="theory: ηλ₀ = 2 and 4"))
    ax.legend(handles=handles, loc="lower left", fontsize=8)

    for row, width in zip(rows, widths, strict=True):
        axes[1].plot(ratios, row["final"], lw=1.2, label=f"n = {width}")
        axes[2].plot(ratios, row["peak"], lw=1.2, label=f"n = {width}")
    axes[1].plot(ratios, ratios, color="grey", lw=0.8, ls=":", label="η λ_final = η λ₀ (lazy)")
    axes[1].axhline(2.0, color="black", ls="--", lw=1)
    axes[1].set_xlabel("η λ₀")
    axes[1].set_ylabel("η λ at the end (λ: top Hessian eigenvalue)")
    axes[1].set_title("the catapult ends below the edge 2/η")
    axes[1].set_ylim(0, 5)
    axes[2].set_yscale("log")
    axes[2].set_xlabel("η λ₀")
    axes[2].set_ylabel("largest loss / initial loss (log scale)")
    axes[2].set_title("the loss spikes first (2 < ηλ₀ < 4)")
    for ax in axes[1:]:
        for edge in (2.0, 4.0):
            ax.axvline(edge, color="black", ls="--", lw=0.8)
        ax.legend(fontsize=7)
    path = os.path.join(args.out, "catapult.png")
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")
    for row, width in zip(rows, widths, strict=True):
        bounds = [ratios[np.argmax(row["phase"] >= k)] for k in (1, 2)]
        print(f"n = {width:5d}: lambda0 = {row['lam0']:.3f}; catapult from eta*lambda0 = "
              f"{bounds[0]:.2f}, divergence from {bounds[1]:.2f}")


if __name__ == "__main__":
    main()
