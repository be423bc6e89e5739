"""Why validation loss jumps around while the epoch-mean training loss falls smoothly.

    python experiments/snapshot_vs_mean.py [--out experiments/out] [--epochs 30]

A practitioner's question: "my training loss falls smoothly epoch after epoch, but validation
loss jumps around wildly at the same training loss." Least squares on anisotropic features is a
narrow valley made of data (curvature 10 across, 0.002 along the floor). Minibatch SGD at a
rate that makes the walls bounce (eta * 10 = 1.2 > 1) keeps the parameters jumping from wall to
wall, kicked by the minibatch noise. The training loop's epoch mean averages 256 minibatch
losses, so it falls smoothly; the validation loss is one snapshot of wherever the parameters
happen to be at the epoch's end, so it jumps. A rate six times smaller settles toward the floor
and the jumps disappear. Writes snapshot_vs_mean.png (the records of both rates side by side)
and prints each run's per-epoch log as a training loop would.
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

import lrscape  # noqa: E402

TASK = {"dim": 2, "wall_curvature": 10.0, "floor_curvature": 0.002, "label_noise": 0.5,
        "start": 20.0, "n_train": 2048, "n_val": 1024, "batch_size": 8}
LARGE_LR, SMALL_LR = 0.12, 0.02
RECORD_EVERY = 16  # k: the training loop logs its last minibatch loss and window mean


def task() -> lrscape.landscapes.LinearRegression:
    return lrscape.landscapes.get("linear-regression", **TASK)


def run(epochs: int = 30, seeds: int = 1) -> xr.Dataset:
    """Both rates, ``seeds`` minibatch orders each, ``epochs`` epochs of 256 updates."""
    landscape = task()
    return lrscape.sweep(landscape, "sgd",
                         {"learning_rate": [LARGE_LR, SMALL_LR], "seed": np.arange(seeds)},
                         steps=epochs * landscape.steps_per_epoch, record_every=RECORD_EVERY,
                         progress=False)


def epoch_jumps(ds: xr.Dataset) -> xr.Dataset:
    """How much each epoch-level series jumps: the mean |log change| from epoch to epoch."""
    series = ds[["epoch_loss_mean", "train_loss", "val_loss"]]
    return np.abs(np.log(series).diff("epoch")).mean([d for d in series.dims
                                                      if d != "learning_rate"])


def print_log(ds: xr.Dataset) -> None:
    for lr in ds.learning_rate.values:
        run0 = ds.sel(learning_rate=lr).isel(seed=0)
        print(f"\nlearning rate {lr:g} (seed 0)")
        print(" epoch | train loss (epoch mean) | train loss (snapshot) | val loss | val acc")
        for e in run0.epoch.values:
            row = run0.sel(epoch=e)
            print(f" {e:5d} | {float(row.epoch_loss_mean):23.4f} | {float(row.train_loss):21.4f}"
                  f" | {float(row.val_loss):8.4f} | {float(row.val_accuracy):7.3f}")


def plot(ds: xr.Dataset, path: str) -> None:
    per_epoch = ds.attrs["steps_per_epoch"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True, constrained_layout=True)
    for ax, lr in zip(axes, ds.learning_rate.values, strict=True):
        run0 = ds.sel(learning_rate=lr).isel(seed=0)
        steps = run0.step.values / per_epoch
        ax.plot(steps, run0.loss_last, color="0.75", lw=0.6,
                label=f"last minibatch loss (every {RECORD_EVERY} steps)")
        ax.plot(steps, run0.loss_mean, color="0.45", lw=0.8,
                label=f"mean of the last {RECORD_EVERY} minibatch losses")
        ax.plot(run0.epoch, run0.epoch_loss_mean, "o-", color="#4C72B0", ms=4, lw=1.8,
                label="training loss, epoch mean (what the log shows)")
        ax.plot(run0.epoch, run0.val_loss, "s-", color="#C44E52", ms=4, lw=1.8,
                label="validation loss, snapshot at epoch end")
        jumps = epoch_jumps(ds.sel(learning_rate=[lr]).isel(epoch=slice(4, None)))
        ax.set_title(f"learning rate {lr:g} (ηλ_wall = {lr * TASK['wall_curvature']:.1f}): "
                     f"epoch-to-epoch jump\nvalidation {float(jumps.val_loss[0]):.2f}, "
                     f"epoch mean {float(jumps.epoch_loss_mean[0]):.2f} "
                     "(mean |Δ log loss|, all seeds)", fontsize=10)
        ax.set_yscale("log")
        ax.set_xlabel("epoch (256 minibatches of 8)")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("loss (log scale)")
    axes[0].set_ylim(0.08, 20)
    axes[1].legend(loc="upper right", fontsize=8)
    fig.suptitle("Linear regression on a narrow valley (wall curvature 10, floor 0.002): "
                 "the epoch mean hides the bouncing that validation snapshots show")
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ds = run(args.epochs, args.seeds)
    print_log(ds)
    jumps = epoch_jumps(ds.isel(epoch=slice(4, None)))
    for lr in ds.learning_rate.values:
        j = jumps.sel(learning_rate=lr)
        print(f"lr {lr:g}: mean |d log loss| per epoch: epoch-mean train "
              f"{float(j.epoch_loss_mean):.3f}, validation {float(j.val_loss):.3f}")
    path = os.path.join(args.out, "snapshot_vs_mean.png")
    plot(ds, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
