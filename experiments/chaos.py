"""Period doubling and chaos of gradient descent on the double well.

    python experiments/chaos.py [--out experiments/out]

Gradient descent on f(x) = (x^2 - 1)^2 / 4 from x0 = 0.5 is the map x -> x - eta x (x^2 - 1).
One sweep over 2,000 learning rates gives, for each, the last 128 iterates (the bifurcation
diagram), the regime lrscape assigns, and the largest Lyapunov exponent from tangent
propagation. The minimum loses stability at eta = 1 (eta f''(1) = 2), and the orbit doubles its
period at eta = 1.2360680, 1.2880318, 1.2992279 (lrscape.theory.double_well_doublings) on the
way to chaos near 1.3023; beyond eta = 2 the iterates
diverge. Writes chaos.png and prints the period found in each interval.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402
from lrscape.plot import REGIME_COLORS, regime_labels  # noqa: E402
from lrscape.regimes import DISPLAY_ORDER  # noqa: E402

DOUBLINGS = lrscape.theory.double_well_doublings(4)  # 1, 1.2360680, 1.2880318, 1.2992279


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--points", type=int, default=2000)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    etas = lrscape.linspace(0.8, 2.1, args.points)
    ds = lrscape.sweep(
        lrscape.landscapes.get("double-well", start=0.5), "sgd", {"learning_rate": etas},
        steps=4000, record_every=100, lyapunov=True, keep_tail=True,
        thresholds={"max_period": 64},
    )
    regime = ds.regime.values
    tails = np.abs(ds.tail_projection.values)  # in 1-D the projection is +-x

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 8), sharex=True,
                                      gridspec_kw={"height_ratios": [2, 1]},
                                      constrained_layout=True)
    diverged = regime == lrscape.Regime.DIVERGED
    if diverged.any():  # nothing to draw there: shade where the iterates ran off
        top.axvspan(etas[diverged].min(), etas[-1], color=REGIME_COLORS[lrscape.Regime.DIVERGED],
                    alpha=0.25, lw=0)
    labels = regime_labels(ds)  # the double well's words, calm to wild
    for r in DISPLAY_ORDER:
        mask = regime == r
        if mask.any():
            xs = np.repeat(etas[mask], tails.shape[1])
            top.plot(xs, tails[mask].ravel(), ",", color=REGIME_COLORS[r], alpha=0.6)
            top.plot([], [], "s", color=REGIME_COLORS[r], label=labels[r])
    for eta in DOUBLINGS:
        for ax in (top, bottom):
            ax.axvline(eta, color="grey", lw=0.6, ls=":")
    top.set_ylabel("|x| over the last 128 steps")
    top.set_title("Gradient descent on the double well (x² − 1)²/4 from x₀ = 0.5: "
                  "period doubling to chaos\n"
                  "(dotted: the computed doublings, η = 1, 1.2360680, 1.2880318, 1.2992279)")
    top.legend(loc="upper left", fontsize=8, markerscale=1.5)
    top.set_ylim(0, 2.0)
    lyap = ds.lyapunov.values
    bottom.plot(etas, np.maximum(lyap, -3), color="black", lw=0.7)
    bottom.axhline(0, color="grey", lw=0.8)
    bottom.set_ylim(-3, 1.2)
    bottom.set_xlabel("learning rate η")
    bottom.set_ylabel("Lyapunov exponent\n(per step, clipped at −3)")
    path = os.path.join(args.out, "chaos.png")
    fig.savefig(path, dpi=130)
    print(f"wrote {path}")

    edges = (0.8, *DOUBLINGS, 1.31, 2.0, 2.1)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (etas > lo + 0.002) & (etas < hi - 0.002)
        names = {lrscape.Regime(r).name for r in regime[inside]}
        periods = sorted(set(ds.period.values[inside].tolist()))
        print(f"eta in ({lo:.4f}, {hi:.4f}): regimes {sorted(names)}, periods {periods}")


if __name__ == "__main__":
    main()
