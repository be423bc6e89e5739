"""The edge of stability: full-batch gradient descent sharpens until 2/eta and stays there.

    python experiments/edge_of_stability.py [--out experiments/out]

A small tanh network (lrscape's ``mlp`` landscape: width 32, 64 examples of a seeded teacher)
trained by full-batch gradient descent at several learning rates, and by heavy-ball momentum
(beta = 0.5), with the sharpness (the top Hessian eigenvalue, by Lanczos) measured every 250
steps inside the sweep. Cohen et al. (2021): the sharpness rises during training (progressive
sharpening) until it reaches the stability edge of a quadratic, 2/eta for gradient descent and
2(1+beta)/eta for heavy ball, then hovers there while the loss keeps falling, non-monotonically.
A rate whose edge lies below the initial sharpness first flattens the landscape down to it.
Writes edge_of_stability.png: sharpness against the edges (top), loss on the same axis (bottom).
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402
from lrscape import theory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--steps", type=int, default=8000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    mlp = lrscape.landscapes.get("mlp")
    beta = 0.5
    common = dict(steps=args.steps, record_every=50, curvature_every=250)
    gd = lrscape.sweep(mlp, "sgd", {"learning_rate": [0.3, 0.4, 0.5, 0.6]}, **common)
    hb = lrscape.sweep(mlp, lrscape.optimizers.get("momentum", momentum=beta),
                       {"learning_rate": [0.5, 0.65, 0.72]}, **common)

    fig, axes = plt.subplots(2, 2, figsize=(14, 8), sharex=True, constrained_layout=True)
    panels = [(gd, "gradient descent", lambda lr: theory.gd_edge() / lr, "2/η"),
              (hb, f"heavy ball, β = {beta}", lambda lr: float(theory.heavy_ball_edge(beta)) / lr,
               "2(1+β)/η")]
    for col, (ds, name, edge, edge_name) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        colors = plt.cm.viridis(np.linspace(0.05, 0.85, ds.sizes["learning_rate"]))
        for i, lr in enumerate(ds.learning_rate.values):
            diverged = int(ds.regime[i]) == lrscape.Regime.DIVERGED
            step = int(ds.divergence_step[i])
            note = ("" if not diverged else f" (diverged at step {step})" if step >= 0
                    else " (diverging: still growing at the end)")
            top.plot(ds.curvature_step, ds.sharpness[i], color=colors[i], lw=1.6,
                     label=f"η = {lr:.3g}{note}")
            top.axhline(edge(lr), color=colors[i], ls="--", lw=1)
            bottom.plot(ds.step, ds.loss_last[i], color=colors[i], lw=1.0)
        top.set_title(f"{name}: sharpness (solid) against its edge {edge_name} (dashed)")
        top.set_ylabel("top Hessian eigenvalue λ₁")
        top.legend(fontsize=8, loc="lower right")
        bottom.set_yscale("log")
        bottom.set_xlabel("step")
        bottom.set_ylabel("training loss (log scale)")
        bottom.set_title("loss on the same time axis: it keeps falling, not monotonically")
    fig.suptitle("Edge of stability on a full-batch tanh network (lrscape 'mlp' landscape)")
    path = os.path.join(args.out, "edge_of_stability.png")
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")
    for ds, name, edge, _ in panels:
        late = ds.curvature_step.values >= 0.6 * args.steps
        for i, lr in enumerate(ds.learning_rate.values):
            ratio = ds.sharpness.values[i, late] / edge(lr)
            print(f"{name}, eta = {lr:.3g}: late sharpness / edge in [{ratio.min():.3f}, "
                  f"{ratio.max():.3f}]")


if __name__ == "__main__":
    main()
