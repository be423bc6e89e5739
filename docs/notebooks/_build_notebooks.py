"""Write, execute and save the notebooks in this folder (with their outputs).

    python docs/notebooks/_build_notebooks.py [--no-execute] [--png DIR] [NAME ...]

The site renders the committed outputs (myst-nb, ``nb_execution_mode = "off"``), and
tests/test_notebooks.py executes every notebook again, so edit the cells here, rerun this
script, and commit the .ipynb files it writes. ``--png DIR`` also saves each figure as a PNG,
to look at. Not collected by pytest (docs/ is outside its testpaths).
"""

from __future__ import annotations

import argparse
import base64
import copy
import os
import time

import nbformat
from nbclient import NotebookClient

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip())


def code(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(text.strip())


SETUP = code("""
%matplotlib inline
import warnings

import matplotlib.pyplot as plt
import numpy as np

# lrscape's progress bars use tqdm, which warns in a notebook without ipywidgets; we pass
# progress=False to every sweep anyway.
warnings.filterwarnings("ignore", message="IProgress not found")
import lrscape

# Okabe-Ito colours, which readers with any common colour-vision deficiency can tell apart.
BLUE, ORANGE, SKY, GREEN, VERMILLION, PURPLE = (
    "#0072B2", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7")
""")

NOTEBOOKS: dict[str, list[nbformat.NotebookNode]] = {}

NOTEBOOKS["validation_jumps"] = [
    md("""
# Why does the validation loss jump while the training loss falls smoothly?

A user's training log (binary image classifier, about 3,000 images):

```text
epoch [6]:  training loss: 0.52 - val_loss: 2.30
epoch [7]:  training loss: 0.38 - val_loss: 0.17
epoch [8]:  training loss: 0.32 - val_loss: 1.52
epoch [9]:  training loss: 0.21 - val_loss: 0.14
epoch [10]: training loss: 0.34 - val_loss: 2.81
```

*"Training seems fine, but the validation loss is very high at epochs 6, 8 and 10. If it is
overfitting, why don't we see a steady increase of the validation loss?"*

The answer the user got: the loss surface is a narrow valley, steep across and gently sloping
along its floor. A large learning rate jumps from one wall to the other while still moving
down the floor. The training loss in the log is a **mean** over the epoch's minibatches, so it
averages the bouncing away. The validation loss is a **snapshot** of wherever the parameters
happen to be when the epoch ends, so it shows the bouncing.

This notebook simulates exactly that and checks the explanation.
"""),
    SETUP,
    md("""
## What we simulate

Least squares on two features of very different scales: a narrow valley made of data. The
curvature across the valley is λ = 10, along its floor 0.002. The labels have noise, and
there are separate training (2,048) and validation (1,024) sets. Minibatch SGD takes batches
of 8, so an epoch is 256 updates.

Two learning rates:

- η = 0.12, so ηλ = 1.2. Each update overshoots the bottom of the walls (ηλ > 1), so the
  parameters land on the other wall. They stay bounded, since ηλ < 2.
- η = 0.02, so ηλ = 0.2: the walls are descended smoothly.

`lrscape.sweep` runs every combination of the grid at once: 2 rates × 4 minibatch orders
(`seed`), for 20 epochs. It records the last minibatch loss and the mean of the last 16 every
16 updates, and at each epoch's end what a training loop logs.
"""),
    code("""
task = lrscape.landscapes.get(
    "linear-regression", dim=2, wall_curvature=10.0, floor_curvature=0.002,
    label_noise=0.5, start=20.0, n_train=2048, n_val=1024, batch_size=8)
LARGE, SMALL = 0.12, 0.02
ds = lrscape.sweep(task, "sgd", {"learning_rate": [LARGE, SMALL], "seed": np.arange(4)},
                   steps=20 * task.steps_per_epoch, record_every=16, progress=False)
print(f"{task.steps_per_epoch} updates per epoch; recorded:",
      ", ".join(v for v in ds.data_vars if "epoch" in ds[v].dims))
"""),
    md("""
## The log a training loop would print

At the large rate, the epoch-mean training loss falls steadily, as in the user's log. The
validation loss jumps up and down from one epoch to the next. So does the full training loss
measured at the same moment (the "snapshot" column): the jumps are not overfitting, they are
where the parameters are.
"""),
    code("""
run = ds.sel(learning_rate=LARGE, seed=0)
print("epoch | train loss (epoch mean) | train loss (snapshot) | val loss")
for e in run.epoch.values:
    row = run.sel(epoch=e)
    print(f"{e:5d} | {float(row.epoch_loss_mean):23.3f} | {float(row.train_loss):21.3f} "
          f"| {float(row.val_loss):8.3f}")
"""),
    md("""
## Inside the epochs

Each panel is one run (seed 0). Grey: the full training loss every 16 updates, that is,
where the parameters are. Blue circles: the epoch-mean minibatch loss, what the log shows.
Vermillion squares: the validation loss at each epoch's end. Orange triangles: the full
training loss at the same moment.
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True, constrained_layout=True)
per_epoch = task.steps_per_epoch
for ax, lr in zip(axes, [LARGE, SMALL]):
    run = ds.sel(learning_rate=lr, seed=0)
    ax.plot(run.step / per_epoch, run.loss_full, color="0.6", lw=0.7,
            label="full training loss, every 16 updates")
    ax.plot(run.epoch, run.epoch_loss_mean, "o-", color=BLUE, lw=2, ms=4,
            label="training loss, mean over the epoch (the log)")
    ax.plot(run.epoch, run.val_loss, "s-", color=VERMILLION, lw=1.5, ms=5,
            label="validation loss, snapshot at the epoch's end")
    ax.plot(run.epoch, run.train_loss, "^", color=ORANGE, ms=4,
            label="full training loss, same snapshot")
    ax.set_yscale("log")
    ax.set_xlabel(f"epoch ({per_epoch} minibatches of 8)")
    ax.set_title(f"learning rate {lr:g}: ηλ = {lr * 10:.1f} across the valley")
    ax.grid(alpha=0.3, which="both")
axes[0].set_ylabel("loss (log scale)")
axes[0].set_ylim(0.1, 3)
axes[0].set_yticks([0.1, 0.2, 0.5, 1, 2], labels=["0.1", "0.2", "0.5", "1", "2"])
axes[0].yaxis.set_minor_formatter("")
axes[1].legend(loc="upper right", fontsize=8)
fig.suptitle("Narrow valley of data: the epoch mean hides the bouncing that snapshots show "
             "(the first epoch's means, 8 and 28, are off the scale)")
plt.show()
"""),
    md("""
At η = 0.12 (left) the full training loss jumps up and down between records: the parameters
bounce from wall to wall, landing higher on one update and lower on another. The epoch mean
averages 256 minibatch losses and falls steadily; a snapshot catches the bounce wherever it
is, so the validation loss jumps (epochs 14 and 16), and the training loss at the same moment
jumps with it. At η = 0.02 (right) the parameters stay near the valley's floor and every
curve is smooth.

## How much does each series jump?

The mean size of the change from one epoch to the next, |Δ log loss|, over all four seeds and
leaving out the first 4 epochs (the descent from the start):
"""),
    code("""
series = ds[["epoch_loss_mean", "train_loss", "val_loss"]].isel(epoch=slice(4, None))
jumps = np.abs(np.log(series).diff("epoch")).mean(["seed", "epoch"])
for lr in ds.learning_rate.values:
    j = jumps.sel(learning_rate=lr)
    print(f"η = {lr:g}: epoch mean {float(j.epoch_loss_mean):.3f}, "
          f"validation snapshot {float(j.val_loss):.3f}, "
          f"training snapshot {float(j.train_loss):.3f}")
"""),
    md(r"""
At η = 0.12 the validation loss jumps about 4.6 times as much as the epoch mean (0.46
against 0.10), and 16 times as much as at η = 0.02 (0.03).

## The answer

The validation loss jumps because it is a snapshot, and at a large rate the parameters bounce
across a narrow valley. The epoch-mean training loss averages hundreds of snapshots, so it
is smooth. A training loss measured the same way as the validation loss (full set, at the
epoch's end) jumps in the same epochs, so this is not overfitting. A smaller rate removes the
jumps, as the answer predicted.

**Closed form.** Across a wall of curvature λ, one SGD update multiplies the distance to the
bottom by 1 − ηλ. For ηλ > 1 the sign flips at every update (a bounce from wall to wall); for
ηλ > 2 the bounces grow and training diverges. With gradient noise of variance σ², the
distance settles to a variance ησ² / (λ(2 − ηλ)), so a snapshot's excess loss is about

$$\frac{\lambda}{2}\,\mathrm{Var} = \frac{\eta\,\sigma^2}{2\,(2-\eta\lambda)} .$$

It grows with η and blows up as ηλ → 2: 0.12 / (2 × 0.8) = 0.075 σ² at η = 0.12 against
0.02 / (2 × 1.8) ≈ 0.006 σ² at η = 0.02, about 13 times smaller. (Minibatch noise in least
squares is not exactly constant, so this is the size, not the exact value.)

**Try this:** set `batch_size=64` (less noise) or η = 0.19 (ηλ close to 2) and watch the
validation jumps shrink or grow.
"""),
]

NOTEBOOKS["step_decay_plateau"] = [
    md("""
# Why does the loss sit on a plateau, then drop sharply when the learning rate is cut?

A user's question on a forum:

*"The error was stuck for many epochs but suddenly decreased so much. I cannot figure out the
reason. Someone said this is because of LR decay. But I never got such a big improvement from
LR decay: is it because I didn't train enough epochs?"*

The reply: this is what a piecewise-constant schedule does (0.1, then 0.01, then 0.001), but
why is "not easy to answer". This notebook simulates it on a narrow valley and answers both
parts: why the plateau and the drop, and why the drop is sometimes small.
"""),
    SETUP,
    md("""
## What we simulate

A narrow valley in 11 dimensions: one coordinate runs along a floor that slopes gently
(slope 0.1) to the minimum, ten run across it, with walls of curvature λ = 15. Gaussian noise
of standard deviation σ = 1 is added to every gradient, standing in for minibatch noise.
SGD starts at rate η = 0.1, so ηλ = 1.5: each update jumps across the valley to the other
wall.

The schedule is step decay, the rate divided by 10 every T updates. T is a grid axis of the
sweep, so one call runs every cut time at once (T = 10⁹ never cuts: a constant rate), each
with 32 noise seeds.
"""),
    code("""
valley = lrscape.landscapes.get("narrow-valley", dim=11, wall_curvature=15.0,
                                floor_slope=0.1, start=10.0, wall_offset=0.0)
decay = lrscape.schedules.get("step-decay", every=1500.0, factor=0.1)
NEVER = 1e9
cut_times = [300, 600, 900, 1200, 1500]
ds = lrscape.sweep(valley, "sgd",
                   {"learning_rate": [0.1], "every": cut_times + [NEVER], "seed": np.arange(32)},
                   schedule=decay, gradient_noise=1.0, steps=4500, record_every=10,
                   progress=False)
loss = ds.loss_mean.isel(learning_rate=0)  # (every, seed, step): mean of each 10 updates
step = ds.step.values
"""),
    md(r"""
## Plateaus, then drops

The classic schedule, 0.1 → 0.01 → 0.001 at updates 1,500 and 3,000 (T = 1,500), against a
constant rate. Thick: the mean over the 32 seeds; thin: one run. Dashed: the closed-form
height of the noise plateau of the walls at each rate (derived below).
"""),
    code("""
n_walls, lam, sigma = 10, 15.0, 1.0

def noise_plateau(eta):
    # the walls' stationary loss under gradient noise: (n - 1) η σ² / (2 (2 - ηλ))
    return n_walls * eta * sigma**2 / (2 * (2 - eta * lam))

fig, ax = plt.subplots(figsize=(9, 4.8), constrained_layout=True)
for every, color, name in [(NEVER, "0.35", "constant rate 0.1"),
                           (1500, VERMILLION, "step decay 0.1 → 0.01 → 0.001")]:
    runs = loss.sel(every=every)
    ax.plot(step, runs.isel(seed=0), color=color, lw=0.5, alpha=0.35)
    ax.plot(step, runs.mean("seed"), color=color, lw=2.2, label=f"{name} (mean of 32 seeds)")
for (lo, hi), eta in zip([(0, 1500), (1500, 3000), (3000, 4500)], [0.1, 0.01, 0.001]):
    ax.hlines(noise_plateau(eta), lo, hi, color=BLUE, ls="--", lw=1.5)
ax.plot([], [], color=BLUE, ls="--", label="closed form: walls' noise plateau at each rate")
for cut in (1500, 3000):
    ax.axvline(cut, color="k", lw=0.8, ls=":")
    ax.annotate("rate ÷ 10", (cut, 2.2), xytext=(4, 0), textcoords="offset points", fontsize=9)
ax.set_yscale("log")
ax.set_xlabel("update")
ax.set_ylabel("loss, mean over 10 updates (log scale)")
ax.set_title("Narrow valley with gradient noise: each cut ends a plateau with a sharp drop")
ax.grid(alpha=0.3, which="both")
ax.legend(loc="lower left", fontsize=9)
plt.show()
"""),
    md(r"""
**Closed form of the plateau.** Across a wall of curvature λ, an update multiplies the distance
to the bottom by 1 − ηλ and adds noise ησξ. The distance settles to the variance
η²σ² / (1 − (1 − ηλ)²) = ησ² / (λ(2 − ηλ)), so each of the n − 1 walls holds a loss of

$$\frac{\lambda}{2}\,\mathrm{Var} = \frac{\eta\,\sigma^2}{2\,(2-\eta\lambda)} ,$$

in total 1.0 at η = 0.1 and 0.027 at η = 0.01. The plateau's height is set by the rate, not
by how far training has got. After a cut the bounce dies within tens of updates, as
|1 − ηλ|ᵗ = 0.85ᵗ, hence a drop rather than a slope. Below the plateau, the loss of the floor
is what remains: the progress made along the floor while the walls hid it. (After the second
cut the mean of the seeds stays above the walls' 0.0025: the noise has also spread the runs
along the floor, and at rate 0.001 they gather back slowly; single runs, like the thin one,
lie lower.)
"""),
    code("""
def window_mean(every, lo, hi):
    sel = (step > lo) & (step <= hi)
    return float(loss.sel(every=every).mean("seed")[sel].mean())

for (lo, hi), eta in zip([(1000, 1500), (2500, 3000), (4000, 4500)], [0.1, 0.01, 0.001]):
    print(f"updates {lo}-{hi}, rate {eta:g}: step decay {window_mean(1500, lo, hi):.4f}, "
          f"constant {window_mean(NEVER, lo, hi):.4f}, walls' closed form {noise_plateau(eta):.4f}")
"""),
    md("""
## "Is it because I didn't train enough epochs?"

Now the cut time T varies. For each T: the loss over the 200 updates before the cut, and over
updates T + 100 to T + 300 after it (before the next cut at 2T).
"""),
    code("""
before = np.array([window_mean(T, T - 200, T) for T in cut_times])
after = np.array([window_mean(T, T + 100, T + 300) for T in cut_times])

fig, ax = plt.subplots(figsize=(8, 4.6), constrained_layout=True)
ax.plot(cut_times, before, "o-", color="0.35", lw=2, label="plateau before the cut")
ax.plot(cut_times, after, "s-", color=VERMILLION, lw=2, label="level after the cut to 0.01")
for T, b, a in zip(cut_times, before, after):
    ax.plot([T, T], [a, b], color="k", lw=0.8, ls=":")
    ax.annotate(f"÷{b / a:.0f}", (T, np.sqrt(a * b)), xytext=(5, 0),
                textcoords="offset points", fontsize=9)
for T, b, a in zip(cut_times, before, after):
    print(f"cut after {T:4d} updates: plateau {b:.3f}, after the cut {a:.3f}, drop ÷{b / a:.1f}")
ax.set_yscale("log")
ax.set_xlabel("T: updates at rate 0.1 before the first cut")
ax.set_ylabel("loss, mean of 32 seeds (log scale)")
ax.set_title("The later the cut, the bigger the drop: the plateau stays, the floor falls")
ax.grid(alpha=0.3, which="both")
ax.legend(fontsize=9)
plt.show()
"""),
    md("""
## The answer

The plateau is the loss of the bouncing across the valley, whose height the rate sets
(closed form ησ²/(2(2 − ηλ)) per wall). Meanwhile the iterate keeps travelling along the
floor, unseen. Cutting the rate damps the bouncing in a few tens of updates and reveals how far
the floor has come: a sharp drop. The plateau before the cut changes little with the cut time
(1.7 after 300 updates, 1.05 after 1,500: the walls' 1.0 plus what is left of the floor), but
the level after it falls eight-fold (0.62 to 0.08), so the drop grows from ÷3 to ÷14. A cut
after a short time at the large rate gives a small drop because little floor was covered.
So yes: a user who sees little gain from decay may have cut too early.

**Try this:** replace `decay` by `lrscape.schedules.get("cosine", decay_steps=4500)` (a
smooth glide, no plateaus), or set `gradient_noise=0.0` and see the plateau vanish.
"""),
]

NOTEBOOKS["large_rate_instability"] = [
    md("""
# Why does a large learning rate sometimes break training, and sometimes help?

A paper summary a user shared (Wang & Roberts, *The instabilities of large learning rate
training: a loss landscape view*, 2023): *"If you push with a large learning rate, the path can
become unstable: the parameters jump around instead of settling. Two ideas pop up: landscape
flattening and landscape shift."*

Two questions: where exactly does a rate become too large, and what happens after the
instability? The first has a closed form. The second needs a landscape whose curvature changes
along the way.
"""),
    SETUP,
    md("""
## Where a rate becomes too large: the stability edge

On a quadratic of curvature λ, gradient descent multiplies the distance to the minimum by
1 − ηλ at every update: it diverges beyond **ηλ = 2**. Heavy-ball momentum β diverges beyond
**ηλ = 2(1 + β)**. Before that, beyond ηλ = 1 + β, it bounces from wall to wall.

We sweep heavy-ball momentum on a narrow valley whose walls have curvature λ = 100: 96
learning rates × 64 momenta, 400 updates each, and colour every trajectory by what it did.
`lrscape.plot.phase_diagram` draws the closed-form edges over it.
"""),
    code("""
from lrscape import plot

valley = lrscape.landscapes.get("narrow-valley", wall_curvature=100.0, floor_slope=0.1)
phase = lrscape.sweep(valley, "momentum",
                      {"learning_rate": lrscape.logspace(1e-3, 0.05, 96),
                       "momentum": lrscape.linspace(0.0, 0.95, 64)},
                      steps=400, record_every=10, progress=False)
ax = plot.phase_diagram(phase)
ax.set_title("Heavy ball on a narrow valley (wall curvature λ = 100): what each run did")
plt.show()
"""),
    md("""
The diverged region (vermillion) starts on the dashed line ηλ = 2(1 + β): at β = 0 (plain
gradient descent) at η = 2/λ = 0.02. Between the dotted line ηλ = 1 + β and the edge, runs
bounce across the valley but still converge. Reading the first diverged rate off the sweep:
"""),
    code("""
diverged = phase.regime == lrscape.Regime.DIVERGED
lrs = phase.learning_rate.values
for beta in (0.0, 0.5, 0.9):
    row = diverged.sel(momentum=beta, method="nearest")
    b = float(row.momentum)
    first = lrs[np.argmax(row.values)]
    print(f"β = {b:.2f}: first diverged rate {first:.4f} (grid step ≈ 4 %), "
          f"closed form 2(1+β)/λ = {2 * (1 + b) / 100:.4f}")
"""),
    md("""
## What happens after an instability: flattening and shift

Real loss surfaces are not quadratics: the curvature changes along the way. lrscape's
`twisted-valley` has walls that steepen (curvature 50 at the start, rising) and turn as the
floor descends. A rate stable at the start can become unstable further down.

We run plain gradient descent at three rates and measure, every 50 updates, the sharpness λ₁
(top Hessian eigenvalue, by Lanczos inside the sweep) and the overlap of its eigenvector with
the one 50 updates earlier.
"""),
    code("""
twisted = lrscape.landscapes.get("twisted-valley")
rates = [0.005, 0.02, 0.035]
tv = lrscape.sweep(twisted, "sgd", {"learning_rate": rates}, steps=3000, record_every=10,
                   curvature_every=50, progress=False)
colors = [BLUE, ORANGE, VERMILLION]

fig, axes = plt.subplots(3, 1, figsize=(10, 9.5), sharex=True, constrained_layout=True)
for lr, color in zip(rates, colors):
    run = tv.sel(learning_rate=lr)
    axes[0].plot(tv.curvature_step, run.sharpness, color=color, lw=1.6,
                 label=f"η = {lr} (unstable above 2/η = {2 / lr:.0f})")
    axes[0].axhline(2 / lr, color=color, ls="--", lw=1)
    axes[1].plot(tv.curvature_step[1:], run.eigvec_overlap[1:], color=color, lw=1.3)
    axes[2].plot(tv.step, run.loss_mean, color=color, lw=1.3)
axes[0].set_ylabel("sharpness λ₁")
axes[0].set_title("Sharpness (solid) and its stability edge 2/η (dashed): crossing the edge "
                  "throws the run to flatter ground")
axes[0].legend(fontsize=8, loc="upper left")
axes[1].set_ylabel("|⟨v₁(t), v₁(t − 50)⟩|")
axes[1].set_ylim(0, 1.05)
axes[1].set_title("Overlap of successive top eigenvectors: it drops when the steep direction "
                  "turns (landscape shift)")
axes[2].set_yscale("log")
axes[2].set_ylabel("loss, mean of 10 updates\\n(log scale)")
axes[2].set_xlabel("update")
axes[2].set_title("Loss on the same time axis")
for ax in axes:
    ax.grid(alpha=0.3)
plt.show()
"""),
    md("""
At η = 0.005 (blue) the edge 2/η = 400 is never reached: the sharpness rises smoothly as
the walls steepen. At η = 0.02 (orange) and 0.035 (vermillion) the sharpness climbs past the
edge 2/η (ηλ₁ reaches about 2.5: the bounce takes a few dozen updates to grow), and then the
run is thrown back up the floor, where the valley is wider:
the sharpness falls in one jump (**landscape flattening**), the top eigenvector turns
(**landscape shift**, the overlap dips), the loss spikes, and descent starts again. The cycle
repeats: the larger rate, with the lower edge, repeats it more often and stays at a higher
loss.
"""),
    code("""
for lr in rates:
    run = tv.sel(learning_rate=lr)
    sharp = run.sharpness.values
    drops = int(np.sum(np.diff(sharp) < -0.1 * sharp[:-1]))
    print(f"η = {lr}: largest ηλ₁ = {np.nanmax(sharp) * lr:.2f}, sudden flattenings {drops}, "
          f"smallest overlap {np.nanmin(run.eigvec_overlap.values[1:]):.2f}, "
          f"final loss {float(run.final_loss):.3g}, "
          f"regime {lrscape.Regime(int(run.regime)).name.lower()}")
"""),
    md("""
## The answer

A rate is too large where ηλ₁ exceeds the edge of the optimizer: 2 for gradient descent,
2(1 + β) for heavy ball, with λ₁ the local sharpness. On a quadratic that is final:
training diverges. On a landscape whose curvature changes, crossing the edge is often
self-correcting: the instability throws the parameters to a flatter region (flattening) where
the steep direction points elsewhere (shift), and training continues. This is how a large
rate can "help": it keeps the run out of regions sharper than 2/η. It breaks training when no
reachable region is flat enough. Note that here the small rate ends with the lowest training
loss: what the large rate buys is flatness, not a lower loss.

**Try this:** run the twisted valley with `lrscape.optimizers.get("momentum", momentum=0.5)`
instead of `"sgd"` and check whether the flattenings now start near 2(1 + β)/η; or open
`lrscape.landscapes.get("uv-model")` for the catapult, where 2 < ηλ₀ < 4 spikes the loss and
then converges.
"""),
]


def build(name: str, execute: bool, png: str | None) -> float:
    cells = copy.deepcopy(NOTEBOOKS[name])  # SETUP is shared by all of them
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i}"  # stable ids: a rebuild changes only what really changed
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNEL
    nb.metadata["language_info"] = {"name": "python"}
    start = time.perf_counter()
    if execute:
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        # record_timing=False: no per-cell timestamps, which would change every commit
        NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": HERE}}).execute(env=env)
    elapsed = time.perf_counter() - start
    nbformat.validate(nb)
    nbformat.write(nb, os.path.join(HERE, f"{name}.ipynb"))
    if png:
        os.makedirs(png, exist_ok=True)
        figure = 0
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if "image/png" in data:
                    figure += 1
                    with open(os.path.join(png, f"{name}_{figure}.png"), "wb") as f:
                        f.write(base64.b64decode(data["image/png"]))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(NOTEBOOKS))
    parser.add_argument("--no-execute", action="store_true")
    parser.add_argument("--png", help="also save every figure as a PNG in this folder")
    args = parser.parse_args()
    for name in args.names:
        elapsed = build(name, not args.no_execute, args.png)
        print(f"{name}.ipynb: executed in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
