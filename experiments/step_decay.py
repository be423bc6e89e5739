"""Why the loss sits on a plateau and then drops sharply when the learning rate is cut.

    python experiments/step_decay.py [--out experiments/out]

A practitioner's question: "my loss sat on a plateau for many epochs, then dropped sharply"
(with a step schedule 0.1 -> 0.01 -> 0.001). On a 2-D narrow valley (walls of curvature 15, a
floor sloping gently to its minimum) with Gaussian gradient noise, SGD at 0.1 bounces across
the valley (eta * 15 = 1.5): the noise keeps the bouncing alive, and the loss sits on a plateau
set by the rate while the iterate travels along the floor. Each cut of the rate damps the
bouncing within a few steps and reveals the progress made along the floor: a sharp drop to a
plateau ten times lower. A constant rate stays on the first plateau; a cosine schedule glides
down smoothly and ends in the same place as the steps. The same three schedules on the noisy
quadratic model are compared with the exact expected loss from
``lrscape.theory.nqm_expected_loss``. Writes step_decay.png and prints each schedule's plateaus.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402
from lrscape import theory  # noqa: E402

PEAK_LR = 0.1
STEPS = 4500
DECAYS = (1500, 3000)  # 0.1 -> 0.01 at step 1500, -> 0.001 at step 3000
VALLEY = {"dim": 11, "wall_curvature": 15.0, "floor_slope": 0.1, "start": 10.0, "wall_offset": 0.0}
NOISE = 1.0
NQM = {"dim": 20, "batch_size": 4.0, "start": 3.0}
COLORS = {"constant": "0.35", "step decay": "#C44E52", "cosine": "#4C72B0"}


def schedules() -> dict[str, lrscape.schedules.Schedule | None]:
    return {
        "constant": None,
        "step decay": lrscape.schedules.get("piecewise-constant", boundaries=list(DECAYS),
                                            multipliers=[1.0, 0.1, 0.01]),
        "cosine": lrscape.schedules.get("cosine", decay_steps=STEPS, final=0.0),
    }


def rates(schedule: lrscape.schedules.Schedule | None) -> np.ndarray:
    """The learning rate of every update."""
    if schedule is None:
        return np.full(STEPS, PEAK_LR)
    return PEAK_LR * np.asarray(jax.vmap(schedule)(jnp.arange(STEPS)), dtype=float)


def run(seeds: int) -> dict[str, dict[str, np.ndarray]]:
    valley = lrscape.landscapes.get("narrow-valley", **VALLEY)
    nqm = lrscape.landscapes.get("noisy-quadratic", **NQM)
    grid = {"learning_rate": [PEAK_LR], "seed": np.arange(seeds)}
    out = {}
    for name, schedule in schedules().items():
        ds = lrscape.sweep(valley, "sgd", grid, schedule=schedule, gradient_noise=NOISE,
                           steps=STEPS, record_every=10, progress=False)
        dq = lrscape.sweep(nqm, "sgd", grid, schedule=schedule, steps=STEPS, record_every=10,
                           progress=False)
        out[name] = {
            "step": ds.step.values,
            "valley": ds.loss_mean.mean(["learning_rate", "seed"]).values,
            "valley_one": ds.loss_last.isel(learning_rate=0, seed=0).values,
            "nqm": dq.loss_full.mean(["learning_rate", "seed"]).values,
            "nqm_theory": theory.nqm_expected_loss(nqm.eigenvalues, rates(schedule),
                                                   NQM["batch_size"], STEPS,
                                                   start=NQM["start"]),
        }
    return out


def plateau(series: dict[str, np.ndarray], key: str, lo: int, hi: int) -> float:
    """The mean of a recorded loss over steps (lo, hi]."""
    sel = (series["step"] > lo) & (series["step"] <= hi)
    return float(np.mean(series[key][sel]))


def plot(results: dict[str, dict[str, np.ndarray]], path: str) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), constrained_layout=True)
    ax = axes[0]
    for name, schedule in schedules().items():
        ax.plot(np.arange(STEPS), rates(schedule), color=COLORS[name], lw=2, label=name)
    ax.set_yscale("log")
    ax.set_title("learning rate schedules")
    ax.set_ylabel("learning rate (log scale)")
    ax.set_ylim(5e-5, 0.3)
    ax.legend()
    ax = axes[1]
    for name, series in results.items():
        ax.plot(series["step"], series["valley_one"], color=COLORS[name], lw=0.5, alpha=0.25)
        ax.plot(series["step"], series["valley"], color=COLORS[name], lw=2,
                label=f"{name} (mean of seeds)")
    ax.set_yscale("log")
    ax.set_title("narrow valley + gradient noise σ = 1: plateaus, then drops\n"
                 "(thin: one run's loss every 10 steps)", fontsize=10)
    ax.set_ylabel("loss (log scale)")
    ax.legend(loc="lower left")
    ax = axes[2]
    for name, series in results.items():
        ax.plot(series["step"], series["nqm"], color=COLORS[name], lw=2.5, alpha=0.6,
                label=f"{name}: simulated (mean of seeds)")
        ax.plot(np.arange(STEPS + 1), series["nqm_theory"], color=COLORS[name], lw=1, ls="--")
    ax.plot([], [], color="k", lw=1, ls="--", label="closed form (theory.nqm_expected_loss)")
    ax.set_yscale("log")
    ax.set_title(f"noisy quadratic model (h_i = 1/i, n = {NQM['dim']}, B = "
                 f"{NQM['batch_size']:g}): expected loss", fontsize=10)
    ax.set_ylabel("full loss (log scale)")
    ax.legend(loc="lower left", fontsize=8)
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3, which="both")
        for decay in DECAYS:
            ax.axvline(decay, color="k", lw=0.8, ls=":")
    axes[0].text(DECAYS[0], 0.15, " ÷10", fontsize=9)
    axes[0].text(DECAYS[1], 0.15, " ÷10", fontsize=9)
    fig.suptitle("Step decay 0.1 → 0.01 → 0.001 (dotted lines): each cut damps the bouncing "
                 "across the valley and reveals the progress made along its floor")
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--seeds", type=int, default=256)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = run(args.seeds)
    spans = [(DECAYS[0] - 500, DECAYS[0]), (DECAYS[1] - 500, DECAYS[1]), (STEPS - 500, STEPS)]
    for name, series in results.items():
        levels = ", ".join(f"{plateau(series, 'valley', lo, hi):.4f}" for lo, hi in spans)
        print(f"{name:10s} valley loss before each cut and at the end: {levels}")
    for name, series in results.items():
        sim = series["nqm"]
        pred = series["nqm_theory"][series["step"]]
        error = np.abs(sim / pred - 1)
        print(f"{name:10s} noisy quadratic model: |simulated / theory - 1| median "
              f"{np.median(error):.3f}, largest {np.max(error):.3f}")
    path = os.path.join(args.out, "step_decay.png")
    plot(results, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
