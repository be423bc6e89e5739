"""The cost of tracking sharpness inside a sweep, relative to the same sweep without it.

    python benchmarks/curvature_cost.py

The workload: gradient descent on a 2-D narrowing valley (walls steepening along the floor),
16,384 learning rates x 1,000 steps, records every 10 steps; with ``curvature_every=10`` the
sweep also runs a warm-started Lanczos measurement of the top Hessian eigenpair (``--iters``
Hessian-vector products, capped at the dimension: 2 here) every 10 steps. Printed: both
throughputs and the ratio of times, best of ``--repeats`` runs after a compiling warm-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import one_device_per_core  # noqa: E402

one_device_per_core()

import jax  # noqa: E402

import lrscape  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    valley = lrscape.landscapes.get("narrow-valley", dim=args.dim, wall_growth=0.1)
    grid = {"learning_rate": lrscape.logspace(1e-4, 0.02, args.n)}

    def timed(**extra) -> float:
        run = lambda: lrscape.sweep(valley, "sgd", grid, steps=args.steps,  # noqa: E731
                                    record_every=10, progress=False, **extra)
        run()
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        return best

    plain = timed()
    tracked = timed(curvature_every=args.every, curvature_iters=args.iters)
    work = args.n * args.steps
    print(f"devices : {jax.device_count()} x {jax.devices()[0].device_kind}")
    print(f"workload: {args.n} trajectories x {args.steps} steps, {args.dim}-D narrowing valley")
    print(f"plain   : {work / plain / 1e9:.3f} G trajectory-steps/s ({plain:.2f} s)")
    print(f"tracked : {work / tracked / 1e9:.3f} G trajectory-steps/s ({tracked:.2f} s), "
          f"sharpness every {args.every} steps, {min(args.iters, args.dim)} Lanczos steps")
    print(f"cost    : {tracked / plain:.2f}x the time of the plain sweep")


if __name__ == "__main__":
    main()
