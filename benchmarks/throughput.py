"""Throughput of a sweep against a vectorised NumPy implementation of the same work.

The workload (issue 2): heavy-ball momentum on the 2-D narrow valley (wall curvature 100, floor
slope 0.1), a 256 x 256 grid of learning rate (1e-3 .. 0.1, log) x momentum (0 .. 0.99) =
65,536 trajectories x 1,000 steps, recording the last and mean loss every 10 steps and
classifying every trajectory's regime. The NumPy baseline (``numpy_reference.py``) does the
same per-step work with array operations over all trajectories, in the same process; a plain
Python loop over a few trajectories gives the third reference point. Throughput is in
trajectory-steps per second. After one warm-up call each (lrscape's compiles; that time is
reported separately), lrscape and NumPy run alternately for ``--repeats`` rounds, so both see
the machine's load of the moment: the script reports the best time of each and the median and
range of the per-round ratios. The regimes of both implementations are compared.
A fourth figure is the ceiling: the same dynamics and window means in ``jit(vmap(scan))``
without the regime tracker.

    python benchmarks/throughput.py               # the full workload
    python benchmarks/throughput.py --quick       # 16,384 trajectories, for a smoke test
    python benchmarks/throughput.py --side 4096 --numpy-side 512   # issue 6's GPU workload

``--numpy-side`` runs the NumPy baseline (single-threaded, about 0.05-0.09 G trajectory-steps/s)
on every k-th learning rate and momentum of the grid instead of all of them, so a 4096 x 4096
run does not wait an hour for it, and scales its time to the whole grid. That errs on NumPy's
side: on a subgrid of at least 256 x 256 (enforced) its per-call overhead is small and its
arrays fit in cache, and it runs slower per trajectory-step on larger grids. Regimes are
compared on the subgrid.

JAX gets one CPU device per core (one XLA CPU device uses one core) unless ``XLA_FLAGS`` or
``JAX_NUM_CPU_DEVICES`` already says otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import (  # noqa: E402
    bare_heavy_ball,
    best_time,
    interleaved_times,
    one_device_per_core,
    report,
    round_ratios,
    sharded_runner,
)  # noqa: E402

one_device_per_core()

import numpy as np  # noqa: E402
from numpy_reference import run_valley_momentum  # noqa: E402

import lrscape  # noqa: E402


def python_loop(lr: float, beta: float, steps: int, record_every: int) -> None:
    """One trajectory in plain Python floats: the same dynamics and records, no tracker."""
    import math

    x0, x1, v0, v1 = 10.0, 1.0, 0.0, 0.0
    window = 0.0
    for t in range(steps):
        root = math.sqrt(x0 * x0 + 1.0)
        loss = 0.1 * (root - 1.0) + 50.0 * x1 * x1
        g0, g1 = 0.1 * x0 / root, 100.0 * x1
        v0, v1 = g0 + beta * v0, g1 + beta * v1
        x0, x1 = x0 - lr * v0, x1 - lr * v1
        window += loss
        if (t + 1) % record_every == 0:
            window = 0.0
        if not math.isfinite(loss) or loss > 1e8:
            break


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 128 x 128 grid")
    parser.add_argument("--side", type=int, default=256, help="grid side (default 256)")
    parser.add_argument("--numpy-side", type=int,
                        help="run NumPy on a subgrid of this side (a divisor of --side)")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5,
                        help="interleaved rounds of lrscape and NumPy (default 5)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    side = 128 if args.quick else args.side
    numpy_side = args.numpy_side or side
    if side < 16 or numpy_side < 1 or side % numpy_side:
        parser.error(f"--numpy-side={numpy_side} must divide --side={side} (at least 16)")
    if numpy_side < min(side, 256):
        # below 65,536 trajectories NumPy's per-call overhead shows and would flatter lrscape
        parser.error(f"--numpy-side={numpy_side} is too small: use at least 256")
    stride = side // numpy_side
    lrs = lrscape.logspace(1e-3, 0.1, side)
    betas = lrscape.linspace(0.0, 0.99, side)
    n = side * side
    work = n * args.steps
    valley = lrscape.landscapes.get("narrow-valley")
    grid = {"learning_rate": lrs, "momentum": betas}

    def run_lrscape():
        return lrscape.sweep(valley, "momentum", grid, steps=args.steps, record_every=10,
                             progress=False)

    lr_flat, beta_flat = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    lr_sub, beta_sub = (m.ravel() for m in np.meshgrid(lrs[::stride], betas[::stride],
                                                       indexing="ij"))

    def run_numpy():
        return run_valley_momentum(lr_sub, beta_sub, steps=args.steps, record_every=10)

    start = time.perf_counter()
    ds = run_lrscape()
    first = time.perf_counter() - start
    ref = run_numpy()
    times = interleaved_times({"lrscape": run_lrscape, "numpy": run_numpy}, args.repeats)
    t_jax = min(times["lrscape"])
    t_numpy = min(times["numpy"]) * stride**2  # seconds for the whole grid at the subgrid's rate
    ratios = round_ratios(times["numpy"], times["lrscape"], stride**2)
    bare = bare_heavy_ball(valley.loss, valley.init(None), args.steps, 10)
    t_bare = best_time(sharded_runner(bare, lr_flat, beta_flat), args.repeats)
    sample = 16
    t_python = best_time(
        lambda: [python_loop(float(a), float(b), args.steps, 10)
                 for a, b in zip(lr_flat[:: n // sample], beta_flat[:: n // sample],
                                 strict=True)],
        1,
    ) * n / sample

    agree = float(np.mean(ds.regime.values[::stride, ::stride].ravel() == ref["regime"]))
    numpy_note = f" (NumPy on a {numpy_side} x {numpy_side} subgrid)" if stride > 1 else ""
    report(f"{n} trajectories x {args.steps} steps, 2-D narrow valley, heavy ball, records "
           f"every 10 steps, regimes classified{numpy_note}", work,
           seconds={"lrscape": t_jax, "numpy": t_numpy, "python loop": t_python},
           first=first, sample=sample, agreement=agree, target=5, unit=(1e9, "G"),
           extra={"bare_dynamics_traj_steps_per_s": work / t_bare}, ratios=ratios,
           json_path=args.json)
    print(f"ceiling    : {work / t_bare / 1e9:9.3f} G trajectory-steps/s for the bare dynamics "
          f"and window means, no regime tracking ({t_numpy / t_bare:.1f}x numpy)")

if __name__ == "__main__":
    main()
