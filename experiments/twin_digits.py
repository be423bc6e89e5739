"""A twin of a real training run: scikit-learn's MLP on its digits, fitted and predicted.

    python experiments/twin_digits.py [--out experiments/out] [--epochs 60]

Training code nobody here wrote: scikit-learn's ``MLPClassifier`` (one hidden layer of 64,
plain SGD, no momentum, no weight decay) on scikit-learn's bundled 8x8 digits (1,400 images to
train on, 397 to validate; no download), logging the epoch-mean minibatch loss as a training
loop does, and the validation loss at each epoch's end. ``lrscape.twin.fit`` fits a noisy
quadratic model to one run (rate 0.1, batch size 32) and predicts runs it has not seen: a
10x lower rate, a 10x cut half-way, another batch size, and a 3x higher rate; each
prediction's median relative error against the real run is printed, over the whole run and
without its first epoch (where a network leaves its initial plateau, which no quadratic
does). A rate change is made the way a user would: scikit-learn's optimizer object holds the
rate, and ``partial_fit`` runs one epoch.

Writes twin_digits.png (the log and its fit, the predictions against the real runs, the run
on its twin's phase diagram) and twin_seed_questions.png (the snapshot-vs-mean and
step-decay questions on the digits runs and their twins, beside lrscape's synthetic ones).
Needs scikit-learn: ``pip install -e ".[examples]"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import lrscape  # noqa: E402
from lrscape import plot  # noqa: E402

HIDDEN = (64,)
N_TRAIN = 1400
BASE_RATE, BASE_BATCH = 0.1, 32


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run: a rate, a batch size, and optional cuts (epoch, factor)."""

    rate: float
    batch: int
    cuts: tuple[tuple[int, float], ...] = ()


def digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x = x / 16.0
    train, val = order[:N_TRAIN], order[N_TRAIN:]
    return x[train], y[train], x[val], y[val]


def train(run: Run, epochs: int, seed: int = 0) -> pd.DataFrame:
    """Train with scikit-learn and return the log a training loop would keep, one row per
    epoch: step, learning_rate, loss (the epoch mean), val_loss and train_snapshot (the loss
    on the whole training set at the epoch's end)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x, y, xv, yv = digits()
    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, solver="sgd", learning_rate_init=run.rate,
                        batch_size=run.batch, momentum=0.0, nesterovs_momentum=False,
                        alpha=0.0, random_state=seed)
    cuts = dict(run.cuts)
    rows = []
    rate = run.rate
    for epoch in range(epochs):
        if epoch in cuts:
            rate *= cuts[epoch]
            clf._optimizer.learning_rate = rate  # sklearn keeps the rate on its optimizer
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(x, y, classes=np.arange(10))
        rows.append({"epoch": epoch + 1, "learning_rate": rate, "loss": clf.loss_curve_[-1],
                     "val_loss": _cross_entropy(clf, xv, yv),
                     "train_snapshot": _cross_entropy(clf, x, y)})
    log = pd.DataFrame(rows)
    log.insert(0, "step", log.epoch * -(-N_TRAIN // run.batch))
    return log


def _cross_entropy(clf, x: np.ndarray, y: np.ndarray) -> float:
    p = clf.predict_proba(x)
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-300, None))))


def cases(epochs: int) -> dict[str, Run]:
    half = epochs // 2
    return {
        "10x lower rate (0.01)": Run(BASE_RATE / 10, BASE_BATCH),
        f"10x cut at epoch {half}": Run(BASE_RATE, BASE_BATCH, ((half, 0.1),)),
        "batch size 64": Run(BASE_RATE, 64),
        "3x higher rate (0.3)": Run(3 * BASE_RATE, BASE_BATCH),
    }


def relative_errors(predicted: np.ndarray, real: np.ndarray) -> dict[str, float]:
    error = np.abs(predicted / real - 1)
    return {"median": float(np.median(error)), "median_after_epoch_1": float(
        np.median(error[1:])), "first_epoch": float(error[0])}


def validate(epochs: int, resamples: int = 16) -> dict:
    """Fit the twin on the base run and predict every case; the errors per case."""
    base = train(Run(BASE_RATE, BASE_BATCH), epochs)
    twin = lrscape.twin.fit(base[["step", "learning_rate", "loss", "val_loss"]],
                            batch_size=BASE_BATCH, resamples=resamples)
    out = {"base": base, "twin": twin, "cases": {}}
    for name, run in cases(epochs).items():
        real = train(run, epochs)
        predicted = twin.predict_log(real.step, real.learning_rate, batch_size=run.batch)
        out["cases"][name] = {"real": real, "predicted": predicted,
                              "errors": relative_errors(predicted.loss.values,
                                                        real.loss.values)}
    return out


def print_errors(results: dict) -> None:
    print(results["twin"].summary())
    print("\nprediction of runs the twin has not seen: median relative error of the epoch-mean "
          "loss")
    print(f" {'run':<26} | over the run | after epoch 1 | first epoch")
    for name, case in results["cases"].items():
        e = case["errors"]
        later = 100 * e["median_after_epoch_1"]
        print(f" {name:<26} | {100 * e['median']:>10.1f} % | {later:>11.1f} % | "
              f"{100 * e['first_epoch']:>9.1f} %")


def plot_validation(results: dict, path: str) -> None:
    twin = results["twin"]
    phase = twin.phase_sweep()
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    plot.fit_axes(twin, axes[0])
    axes[0].set_title(f"The run (rate {BASE_RATE}, batch {BASE_BATCH}) and its twin")
    ax = axes[1]
    for color, (name, case) in zip(plot.PREDICTION_COLORS, results["cases"].items(),
                                   strict=False):
        real, pred = case["real"], case["predicted"]
        ax.plot(real.step, real.loss, "o", ms=3, color=color,
                label=f"{name}: real ({100 * case['errors']['median']:.0f} % median error)")
        ax.plot(pred.step, pred.loss, color=color, lw=1.5)
        ax.fill_between(pred.step, pred.loss_low, pred.loss_high, color=color, alpha=0.2, lw=0)
    ax.plot([], [], color="0.3", lw=1.5, label="lines: the twin's prediction")
    ax.set(yscale="log", xlabel="step (updates)", ylabel="epoch-mean training loss (log scale)",
           title="Runs the twin has not seen: real (dots), predicted (lines)")
    ax.legend(fontsize=7.5)
    plot.run_on_phase_diagram(twin, phase, axes[2])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_seed_questions(epochs: int, path: str) -> dict:
    """Snapshot vs mean, and step decay: lrscape's synthetic pictures beside the digits runs."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import snapshot_vs_mean
    import step_decay

    fig, axes = plt.subplots(2, 2, figsize=(13, 9.5), constrained_layout=True)
    synthetic = snapshot_vs_mean.run(epochs=30).sel(learning_rate=snapshot_vs_mean.LARGE_LR)
    synthetic = synthetic.isel(seed=0)
    ax = axes[0, 0]
    ax.plot(synthetic.epoch, synthetic.epoch_loss_mean, color="black", lw=1.8,
            label="training loss, epoch mean")
    ax.plot(synthetic.epoch, synthetic.val_loss, "o-", ms=3, color="#D55E00", lw=1,
            label="validation loss, snapshot at the epoch's end")
    ax.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)",
           title=f"Synthetic: least squares as a valley, rate {snapshot_vs_mean.LARGE_LR}")
    ax.legend(fontsize=8)

    large = Run(1.0, 16)
    real = train(large, epochs)
    twin = lrscape.twin.fit(real[["step", "learning_rate", "loss", "val_loss"]],
                            batch_size=large.batch, resamples=0)
    fitted = twin.predict_log(real.step, real.learning_rate)
    ax = axes[0, 1]
    ax.plot(real.epoch, real.loss, color="black", lw=1.8, label="training loss, epoch mean")
    ax.plot(real.epoch, real.train_snapshot, "^-", ms=3, color="#0072B2", lw=1,
            label="training loss, snapshot at the epoch's end")
    ax.plot(real.epoch, real.val_loss, "o-", ms=3, color="#D55E00", lw=1,
            label="validation loss, snapshot")
    ax.plot(real.epoch, fitted.loss, color="0.5", ls="--", lw=1.5,
            label="twin: expected epoch mean")
    ax.plot(real.epoch, fitted.val_loss, color="#D55E00", ls=":", lw=1.5,
            label="twin: expected validation snapshot")
    jumps = _jumps(real)
    ax.set(yscale="log", xlabel="epoch", ylabel="loss (log scale)",
           title=f"Digits MLP, rate {large.rate}, batch {large.batch}\nchange per epoch: "
                 f"{100 * jumps['mean']:.0f} % (epoch mean), {100 * jumps['val']:.0f} % (val)")
    ax.legend(fontsize=8)

    curves = step_decay.run(seeds=4)
    ax = axes[1, 0]
    for name in ("constant", "step decay"):
        ax.plot(curves[name]["step"], curves[name]["valley"], color=step_decay.COLORS[name],
                lw=1.6, label=f"{name} (valley, mean of 4 noisy runs)")
    for cut in step_decay.DECAYS:
        ax.axvline(cut, color="0.6", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="step (updates)", ylabel="loss, window mean (log scale)",
           title="Synthetic: a noisy narrow valley, 0.1 then /10 twice")
    ax.legend(fontsize=8)

    decay = _step_decay_digits(epochs)
    ax = axes[1, 1]
    ax.plot(decay["constant"].step, decay["constant"].loss, "o", ms=3, color="0.35",
            label="constant 0.3 (real; the twin is fitted to it)")
    ax.plot(decay["decay"].step, decay["decay"].loss, "o", ms=3, color="#C44E52",
            label=f"step decay (real): {100 * decay['error']:.0f} % median error")
    ax.plot(decay["predicted"].step, decay["predicted"].loss, color="#C44E52", lw=1.5,
            label="step decay: the twin's prediction")
    ax.fill_between(decay["predicted"].step, decay["predicted"].loss_low,
                    decay["predicted"].loss_high, color="#C44E52", alpha=0.2, lw=0)
    for cut in decay["cuts"]:
        ax.axvline(cut, color="0.6", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="step (updates)", ylabel="epoch-mean training loss (log scale)",
           title="Digits MLP, batch 8: rate 0.3 then /10 twice")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return {"jumps": jumps, "step_decay_error": decay["error"]}


def _jumps(log: pd.DataFrame) -> dict[str, float]:
    """The mean |log change| from epoch to epoch of the epoch mean and the val snapshot."""
    change = np.abs(np.diff(np.log(log[["loss", "val_loss"]].to_numpy()), axis=0)).mean(axis=0)
    return {"mean": float(change[0]), "val": float(change[1])}


def _step_decay_digits(epochs: int) -> dict:
    cuts = ((epochs // 2, 0.1), (3 * epochs // 4, 0.1))
    constant = train(Run(0.3, 8), epochs)
    decay = train(Run(0.3, 8, cuts), epochs)
    twin = lrscape.twin.fit(constant[["step", "learning_rate", "loss"]], batch_size=8)
    predicted = twin.predict_log(decay.step, decay.learning_rate)
    error = float(np.median(np.abs(predicted.loss.values / decay.loss.values - 1)))
    steps_per_epoch = int(decay.step.iloc[0])
    return {"constant": constant, "decay": decay, "predicted": predicted, "error": error,
            "cuts": [steps_per_epoch * c for c, _ in cuts]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="experiments/out", help="output folder")
    parser.add_argument("--epochs", type=int, default=60, help="epochs of every run")
    parser.add_argument("--resamples", type=int, default=16,
                        help="refits on resampled logs for the prediction bands")
    parser.add_argument("--no-figures", action="store_true", help="print the errors only")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    results = validate(args.epochs, args.resamples)
    print_errors(results)
    if args.no_figures:
        return
    plot_validation(results, os.path.join(args.out, "twin_digits.png"))
    seeds = plot_seed_questions(args.epochs, os.path.join(args.out, "twin_seed_questions.png"))
    print(f"\nsnapshot vs mean (digits, rate 1.0, batch 16): mean |log change| per epoch "
          f"{100 * seeds['jumps']['mean']:.1f} % (epoch mean), "
          f"{100 * seeds['jumps']['val']:.1f} % (val snapshot)")
    print(f"step decay (digits, 0.3 /10 /10, batch 8): the twin fitted on the constant run "
          f"predicts it with {100 * seeds['step_decay_error']:.1f} % median error")
    print(f"wrote {args.out}/twin_digits.png and {args.out}/twin_seed_questions.png")


if __name__ == "__main__":
    main()
