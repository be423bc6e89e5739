"""lrscape's sweep against the loop a JAX user writes by hand, in one process (issue 26).

The hand-written loop is what a user who doubts a library writes in twenty lines: optax's
heavy ball (``optax.sgd(lr, momentum=beta)``) in a ``lax.scan``, keeping the last loss and the
mean loss of every 10 steps and a divergence flag, ``jax.jit(jax.vmap(run))`` over (learning
rate, momentum), chunked over the grid and sharded over the devices. It labels nothing.
lrscape's sweep runs the same grid on the same devices with every default label on
(regime, period, divergence step, the oscillation and approach statistics). The third
figure is lrscape's own ceiling (``_timing.bare_heavy_ball``): its dynamics and window means
in ``jit(vmap(scan))`` without the tracker.

Two workloads:

- ``valley``: the 2-D ``narrow-valley`` (wall curvature 100, floor slope 0.1), 256 x 256 grid
  of learning rate (1e-3 .. 0.1, log) x momentum (0 .. 0.99), 1,000 steps. The hand loop
  writes the valley's loss out itself, ``0.1 (sqrt(x0^2 + 1) - 1) + 50 x1^2``.
- ``rugged``: the 1,000-D ``rugged-quadratic`` (64 cosines of amplitude 0.1 and frequency 5 on
  a bowl of curvature 1), 64 x 64 grid of learning rate (1e-3 .. 3, log) x momentum, 500 steps,
  from one shared start. The hand loop calls the landscape's ``loss`` (a user would import
  it rather than retype 64 random directions).

After one warm-up call each (the compilations), the implementations take turns for
``--repeats`` rounds (``_timing.interleaved_times``), so each round's ratio sees the same load.
The hand loop's chunk is the fastest of a few sizes per device (the choice errs on its side).
The script prints throughput in trajectory-steps per second and the per-round ratios
lrscape / hand loop, with their median and range. The first record of both is compared, so
the two compute the same dynamics.

    python benchmarks/versus_plain_jax.py                     # both workloads
    python benchmarks/versus_plain_jax.py --quick             # small grids, a smoke test
    python benchmarks/versus_plain_jax.py --gpu       # both at a GPU's sizes (valley 4096^2)

``--gpu`` runs the valley at 4096 x 4096 (16.8 M trajectories; issue 26's target there is
1e11 trajectory-steps/s on one H100-class GPU) and the rugged quadratic at 256 x 256, tries
larger chunks for the hand loop, and writes the figures to
``versus_plain_jax-<device>.json`` (the device named) unless ``--json`` says otherwise.

JAX gets one CPU device per core unless ``XLA_FLAGS`` or ``JAX_NUM_CPU_DEVICES`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import (  # noqa: E402
    bare_heavy_ball,
    best_time,
    interleaved_times,
    one_device_per_core,
    round_ratios,
    sharded_runner,
)

one_device_per_core()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import lrscape  # noqa: E402

RECORD_EVERY = 10


def valley_loss(x: jax.Array) -> jax.Array:
    """The narrow valley as a user writes it: floor slope 0.1, wall curvature 100."""
    return 0.1 * (jnp.sqrt(x[0] ** 2 + 1.0) - 1.0) + 50.0 * x[1] ** 2


def hand_written_loop(loss, x0, steps: int):
    """One trajectory ``(lr, beta) -> (last losses, window means, diverged)``, the plain way."""

    def run(lr, beta):
        tx = optax.sgd(lr, momentum=beta)

        def step(carry, _):
            x, state, total, _last, diverged = carry
            value, grads = jax.value_and_grad(loss)(x)
            updates, state = tx.update(grads, state)
            x = optax.apply_updates(x, updates)
            diverged = diverged | ~jnp.isfinite(value) | (value > 1e10)
            return (x, state, total + value, value, diverged), None

        def window(carry, _):
            carry, _ = jax.lax.scan(step, carry, None, length=RECORD_EVERY)
            x, state, total, last, diverged = carry
            record = (last, total / RECORD_EVERY)
            return (x, state, jnp.zeros_like(total), last, diverged), record

        zero = jnp.zeros((), jnp.float32)
        init = (x0, tx.init(x0), zero, zero, jnp.zeros((), bool))
        carry, (lasts, means) = jax.lax.scan(window, init, None, length=steps // RECORD_EVERY)
        return lasts, means, carry[-1]

    return run


def fastest_runner(one, lrs, betas, per_device_sizes):
    """The fastest of ``sharded_runner`` over the chunk sizes, with its size."""
    best = None
    for per_device in per_device_sizes:
        call = sharded_runner(one, lrs, betas, per_device=per_device)
        t = best_time(call, 2)
        if best is None or t < best[0]:
            best = (t, per_device, call)
    return best[1], best[2]


#: Per workload: (grid side, quick side, GPU side), (steps, quick steps), and the hand loop's
#: chunk sizes to try, in trajectories per device (on CPU, on a GPU).
SIZES = {
    "valley": ((256, 128, 4096), (1000, 200), ((4096, 8192, 16384), (65536, 262144, 1048576))),
    "rugged": ((64, 32, 256), (500, 200), ((128, 256, 512), (1024, 4096, 16384))),
}


def workload(name: str, quick: bool, side: int | None, gpu: bool = False):
    """The landscape, the hand loop's loss, the start, the grid, the steps of a workload and
    the hand loop's chunk sizes (trajectories per device) to try."""
    sides, steps, chunks = SIZES[name]
    side = side or sides[2 if gpu else 1 if quick else 0]
    steps, chunks = steps[1 if quick else 0], chunks[1 if gpu else 0]
    if name == "valley":
        landscape = lrscape.landscapes.get("narrow-valley")
        x0 = np.asarray(landscape.init(None), np.float32)
        lrs, betas = lrscape.logspace(1e-3, 0.1, side), lrscape.linspace(0.0, 0.99, side)
        return landscape, valley_loss, x0, lrs, betas, steps, chunks
    landscape = lrscape.landscapes.get("rugged-quadratic", dim=1000, amplitude=0.1,
                                       frequency=5.0, curvature=1.0)
    x0 = np.asarray(landscape.init(jax.random.key(0)), np.float32)
    lrs, betas = lrscape.logspace(1e-3, 3.0, side), lrscape.linspace(0.0, 0.99, side)
    return landscape, landscape.loss, x0, lrs, betas, steps, chunks


def compare(name: str, quick: bool, side: int | None, repeats: int, gpu: bool = False) -> dict:
    """Time the three implementations of one workload and print what they did."""
    landscape, loss, x0, lrs, betas, steps, sizes = workload(name, quick, side, gpu)
    n = len(lrs) * len(betas)
    work = n * steps
    sizes = tuple(s for s in sizes if n % (s * jax.device_count()) == 0) or (
        n // jax.device_count(),)
    grid = {"learning_rate": lrs, "momentum": betas}

    def run_lrscape():
        return lrscape.sweep(landscape, "momentum", grid, steps=steps,
                             record_every=RECORD_EVERY, x0=x0, progress=False)

    start = time.perf_counter()
    ds = run_lrscape()
    first = time.perf_counter() - start
    lr_flat, beta_flat = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    hand = hand_written_loop(loss, jnp.asarray(x0), steps)
    hand_chunk, run_hand = fastest_runner(hand, lr_flat, beta_flat, sizes)
    bare = bare_heavy_ball(landscape.loss, jnp.asarray(x0), steps, RECORD_EVERY)
    bare_chunk, run_bare = fastest_runner(bare, lr_flat, beta_flat, sizes)
    # the same dynamics: the first window mean of every trajectory that did not diverge in
    # it (lrscape's mean stops at the divergence; the hand loop goes on adding)
    hand_means = np.concatenate([np.asarray(out[1][:, 0]) for out in run_hand()])
    dims = ("learning_rate", "momentum")
    ours = ds.loss_mean.transpose(*dims, "step").values[..., 0].ravel()
    gone = ds.divergence_step.transpose(*dims).values.ravel()
    kept = np.isfinite(ours) & ~((gone >= 0) & (gone < RECORD_EVERY))
    close = np.isclose(hand_means[kept], ours[kept], rtol=1e-4)
    same = float(close.mean()) if kept.any() else 0.0

    times = interleaved_times({"lrscape": run_lrscape, "hand": run_hand, "ceiling": run_bare},
                              repeats)
    ratios = round_ratios(times["hand"], times["lrscape"])
    ceiling_ratios = round_ratios(times["ceiling"], times["lrscape"])
    rate = {k: work / min(v) for k, v in times.items()}
    figures = {
        "workload": name, "trajectories": n, "steps": steps,
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
        "jax": jax.__version__, "cpu_count": os.cpu_count(),
        "lrscape_traj_steps_per_s": rate["lrscape"],
        "hand_loop_traj_steps_per_s": rate["hand"],
        "ceiling_traj_steps_per_s": rate["ceiling"],
        "hand_loop_per_device": hand_chunk, "ceiling_per_device": bare_chunk,
        "round_ratios_lrscape_over_hand": ratios,
        "median_ratio_lrscape_over_hand": statistics.median(ratios),
        "median_ratio_lrscape_over_ceiling": statistics.median(ceiling_ratios),
        "first_call_s_including_compile": first, "first_records_agree": same,
    }
    scale, unit = (1e9, "G") if name == "valley" else (1e6, "M")
    print(f"workload  : {name}, {n} trajectories x {steps} steps, heavy ball, records every "
          f"{RECORD_EVERY} steps; {figures['devices']} (jax {jax.__version__})")
    print(f"lrscape   : {rate['lrscape'] / scale:8.3f} {unit} trajectory-steps/s, every default "
          f"label on (first call with compile {first:.2f} s)")
    print(f"hand loop : {rate['hand'] / scale:8.3f} {unit} trajectory-steps/s, records and a "
          f"divergence flag, no labels ({hand_chunk} trajectories per device)")
    print(f"ceiling   : {rate['ceiling'] / scale:8.3f} {unit} trajectory-steps/s, lrscape's "
          f"dynamics without the tracker ({bare_chunk} per device)")
    print(f"ratio     : lrscape / hand loop = {rate['lrscape'] / rate['hand']:.2f}x best against "
          f"best; median {statistics.median(ratios):.2f}x, range {min(ratios):.2f}-"
          f"{max(ratios):.2f}x over {len(ratios)} rounds (target >= 1.0x)")
    print(f"ratio     : lrscape / ceiling = median {statistics.median(ceiling_ratios):.2f}x")
    print(f"same      : first window means equal to 1e-4 on {same:.2%} of the {kept.sum()} "
          "trajectories alive through it")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("valley", "rugged", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="small grids and runs")
    parser.add_argument("--side", type=int, help="grid side (default 256 valley, 64 rugged)")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--gpu", action="store_true",
                        help="a GPU's sizes: valley 4096 x 4096, rugged 256 x 256")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    names = ("valley", "rugged") if args.workload == "both" else (args.workload,)
    figures = [compare(name, args.quick, args.side, args.repeats, args.gpu) for name in names]
    if args.gpu and not args.json:
        kind = jax.devices()[0].device_kind.replace(" ", "-")
        args.json = f"versus_plain_jax-{kind}.json"
    if args.json:
        print(f"wrote {args.json}")
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)


if __name__ == "__main__":
    main()
