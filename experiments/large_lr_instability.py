"""Why a large learning rate sometimes breaks training and sometimes helps: flattening and shift.

    python experiments/large_lr_instability.py [--out experiments/out]

Gradient descent on lrscape's ``twisted-valley``: steep walls that steepen and turn as the
floor descends. At a small rate the walls stay stable all the way down and the sharpness grows
with them. At a medium rate the walls are stable at the start but steepen past 2/eta on the way
down; each instability throws the iterate back up the floor to flatter ground (the sharpness
drops: landscape flattening) and turns the direction of highest curvature (the overlap of
successive top eigenvectors drops: landscape shift), after which descent resumes. At a large
rate the iterate never settles into the narrow part. Wang & Roberts (2023) describe these two
effects in the Hessian along real training runs. Writes large_lr_instability.png.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    valley = lrscape.landscapes.get("twisted-valley")
    etas = [0.005, 0.02, 0.035]
    labels = ["small", "medium", "large"]
    ds = lrscape.sweep(valley, "sgd", {"learning_rate": etas}, steps=args.steps,
                       record_every=10, curvature_every=50)

    fig, axes = plt.subplots(3, 1, figsize=(11, 10), sharex=True, constrained_layout=True)
    colors = ["#4C72B0", "#DD8452", "#C44E52"]
    for i, (eta, label) in enumerate(zip(etas, labels, strict=True)):
        c = colors[i]
        axes[0].plot(ds.curvature_step, ds.sharpness[i], color=c, lw=1.5,
                     label=f"{label} η = {eta} (edge 2/η = {2 / eta:.0f})")
        axes[0].axhline(2 / eta, color=c, ls="--", lw=1)
        axes[1].plot(ds.curvature_step[1:], ds.eigvec_overlap[i, 1:], color=c, lw=1.2)
        axes[2].plot(ds.step, ds.loss_mean[i], color=c, lw=1.2)
    axes[0].set_ylabel("sharpness λ₁\n(top Hessian eigenvalue)")
    axes[0].set_ylim(0, 1.15 * float(np.nanmax(ds.sharpness.values)))
    axes[0].set_title("sharpness along each trajectory (dashed: its edge 2/η). Above the edge "
                      "the walls are unstable;\nthe instability throws the iterate to flatter "
                      "ground: landscape flattening")
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].set_ylabel("|⟨v₁(t), v₁(t − 50)⟩|")
    axes[1].set_ylim(0, 1.05)
    axes[1].set_title("overlap of successive top eigenvectors: drops when an instability turns "
                      "the steep direction (landscape shift)")
    axes[2].set_yscale("log")
    axes[2].set_ylabel("loss, mean over\n10-step windows (log)")
    axes[2].set_xlabel("step")
    axes[2].set_title("loss on the same time axis")
    path = os.path.join(args.out, "large_lr_instability.png")
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")
    for i, label in enumerate(labels):
        sharp = ds.sharpness.values[i]
        overlap = ds.eigvec_overlap.values[i, 1:]
        drops = int(np.sum(np.diff(sharp) < -0.1 * sharp[:-1]))
        peak = np.nanmax(sharp) * etas[i]
        print(f"{label:6s} eta = {etas[i]}: max sharpness x eta = {peak:.2f}, "
              f"sharp drops {drops}, min overlap {np.nanmin(overlap):.2f}, "
              f"regime {lrscape.Regime(int(ds.regime[i])).name}")


if __name__ == "__main__":
    main()
