"""The learning-rate range test in one run, and what it suggests, next to the phase diagram.

    python experiments/lr_range_test.py [--out experiments/out]

The range test (Smith, "Cyclical learning rates for training neural networks", 2017) raises the
rate exponentially during one run and watches the loss: it falls, then blows up. Its rules of
thumb pick the rate where the loss falls fastest, or a tenth of the rate at the lowest loss. On
a 2-D narrow valley (walls of curvature 20) with heavy-ball momentum 0.9, the run is one
``lrscape.sweep`` with the ``exponential-range`` schedule; the phase diagram of the same valley
over constant rates and momenta, with the heavy-ball edge eta = 2(1 + beta) / 20 from theory
(both runs with the same small Gaussian gradient noise, as minibatches would give), shows where
those suggestions land: all inside the stable region, "lowest loss / 10" an order of magnitude
below the edge, and none at the constant rate that ends lowest after 1000 steps, which sits in
the bouncing band just below the edge. Writes lr_range_test.png and prints the suggestions next
to the sweep's own answer.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402
from lrscape import plot as lplot  # noqa: E402
from lrscape import theory  # noqa: E402

VALLEY = {"wall_curvature": 20.0, "floor_slope": 0.1, "start": 10.0, "wall_offset": 1.0}
MOMENTUM = 0.9
NOISE = 0.1  # Gaussian gradient noise, as minibatches would give
RANGE = {"initial": 1e-5, "final": 1.0, "range_steps": 2000.0}
EVERY = 10


def range_test(valley: lrscape.landscapes.Landscape) -> dict[str, np.ndarray]:
    """One run with the rate ramped from RANGE['initial'] to RANGE['final']."""
    schedule = lrscape.schedules.get("exponential-range", **RANGE)
    optimizer = lrscape.optimizers.get("momentum", momentum=MOMENTUM)
    steps = int(RANGE["range_steps"])
    ds = lrscape.sweep(valley, optimizer, {"learning_rate": [1.0]}, schedule=schedule,
                       gradient_noise=NOISE, steps=steps, record_every=EVERY, progress=False,
                       thresholds={"divergence_ratio": 1e12})
    rate = np.asarray([float(schedule(s - 1)) for s in ds.step.values])
    return {"rate": rate, "loss": ds.loss_mean.values[0]}


def suggestions(test: dict[str, np.ndarray]) -> dict[str, float]:
    """The range test's rules of thumb, read off its loss curve."""
    rate, loss = test["rate"], test["loss"]
    finite = np.isfinite(loss) & (loss > 0)
    lowest = int(np.nanargmin(np.where(finite, loss, np.nan)))
    log_loss = np.log(np.where(finite, loss, np.nan))
    kernel = np.ones(9) / 9  # smooth over 90 steps before differentiating
    smooth = np.convolve(np.nan_to_num(log_loss, nan=np.nanmax(log_loss)), kernel, "same")
    slope = np.gradient(smooth, np.log(rate))
    slope[: len(kernel)] = 0  # the edges of the convolution are not data
    steepest = int(np.argmin(slope[:lowest + 1]))
    return {"lowest_loss": float(rate[lowest]), "lowest_over_10": float(rate[lowest] / 10),
            "steepest": float(rate[steepest])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--points", type=int, default=160)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    valley = lrscape.landscapes.get("narrow-valley", **VALLEY)

    test = range_test(valley)
    picks = suggestions(test)
    grid = {"learning_rate": lrscape.logspace(1e-4, 0.5, args.points),
            "momentum": lrscape.linspace(0.0, 0.95, args.points // 2)}
    ds = lrscape.sweep(valley, "momentum", grid, gradient_noise=NOISE, steps=1000,
                       progress=False)
    row = ds.sel(momentum=MOMENTUM, method="nearest")
    beta = float(row.momentum)
    stable = row.learning_rate.values[row.regime.values != lrscape.Regime.DIVERGED]
    edge = theory.critical_learning_rate(theory.heavy_ball_edge(beta), VALLEY["wall_curvature"])
    best = float(row.learning_rate[int(np.nanargmin(row.final_loss.values))])

    print(f"range test (momentum {MOMENTUM}, rate {RANGE['initial']:g} -> {RANGE['final']:g} "
          f"over {int(RANGE['range_steps'])} steps):")
    print(f"  loss lowest at lr = {picks['lowest_loss']:.4f}; "
          f"rule of thumb lowest/10 = {picks['lowest_over_10']:.4f}; "
          f"steepest descent at lr = {picks['steepest']:.4f}")
    print(f"phase diagram at momentum {beta:.3f} (1000 steps at a constant rate):")
    print(f"  largest rate that does not diverge = {stable.max():.4f} "
          f"(theory 2(1+beta)/lambda = {edge:.4f}); lowest final loss at lr = {best:.4f}")

    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2), constrained_layout=True)
    ax = axes[0]
    ax.plot(test["rate"], test["loss"], color="k", lw=1.5, label="loss (mean over 10 steps)")
    marks = {"steepest": ("steepest descent", "#4C72B0"),
             "lowest_over_10": ("lowest loss / 10", "#55A868"),
             "lowest_loss": ("lowest loss", "#DD8452")}
    for key, (label, color) in marks.items():
        ax.axvline(picks[key], color=color, lw=1.5, ls="--", label=f"{label}: {picks[key]:.3g}")
    ax.axvline(edge, color="#C44E52", lw=2, label=f"heavy-ball edge 2(1+β)/λ = {edge:.3g}")
    ax.plot([best], [float(row.final_loss.min())], marker="*", ms=14, color="k", ls="none",
            label=f"best constant rate (phase diagram): {best:.3g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1e3)
    ax.set_xlabel("learning rate at that step (log scale)")
    ax.set_ylabel("loss (log scale)")
    ax.set_title(f"range test: one run, rate ×10 every {int(RANGE['range_steps']) // 5} steps, "
                 f"momentum {MOMENTUM}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    ax = axes[1]
    lplot.phase_diagram(ds, "learning_rate", "momentum", ax=ax,
                        title=f"same valley: constant rates, 1000 steps, noise σ = {NOISE:g}")
    old = ax.get_legend()
    handles, labels = list(old.legend_handles), [t.get_text() for t in old.get_texts()]
    for key, (label, color) in marks.items():
        handles += ax.plot([picks[key]], [MOMENTUM], marker="v", ms=11, color=color, mec="k",
                           ls="none")
        labels.append(f"range test: {label}")
    handles += ax.plot([best], [beta], marker="*", ms=14, color="k", ls="none")
    labels.append("lowest final loss at this momentum")
    ax.legend(handles, labels, fontsize=8, loc="lower left")
    fig.suptitle(f"Learning-rate range test vs the full phase diagram: 2-D narrow valley, "
                 f"walls of curvature {VALLEY['wall_curvature']:g}")
    path = os.path.join(args.out, "lr_range_test.png")
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
