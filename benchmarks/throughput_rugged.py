"""Throughput on a 1,000-dimensional rugged quadratic against NumPy doing the same work.

The workload (issue 6): heavy-ball momentum on ``rugged-quadratic`` with ``dim=1000`` (64
random cosines of amplitude 0.1 and frequency 5 on a bowl of curvature 1), a 64 x 64 grid of
learning rate (1e-3 .. 3, log) x momentum (0 .. 0.99) = 4,096 trajectories x 500 steps from one
shared start, recording the last and mean loss every 10 steps and classifying every
trajectory's regime. Each step costs two matrix products per trajectory (the 64 projections and
the gradient through them) and a dozen 1,000-long vector operations.

Three implementations in one process: lrscape's sweep; ``numpy_reference.run_momentum``, the
same per-step work vectorised over all trajectories with NumPy (matrix products through BLAS);
and a plain Python loop over the grid, one trajectory at a time (the same NumPy code per
trajectory), extrapolated from a sample. After a warm-up call each (lrscape's compiles),
lrscape and NumPy run alternately for ``--repeats`` rounds: the best time of each is reported,
and the median and range of the per-round ratios.

Two ceilings say how close lrscape comes to what the machine allows. Both run the same grid on
the same devices in ``jit(vmap(scan))``, in chunks of 128, 256 or 512 trajectories per device
(the sweep picks 128 here), the fastest of the three counting:

- the bare dynamics: the loss, its gradient and the heavy-ball update, with window means, and
  no regime tracking;
- the matrix products alone: per step, the two products the gradient needs (the projections
  ``x @ W.T`` and the gradient through them ``a @ W``, 4 x 1,000 x 64 flops per trajectory),
  nothing else. Their rate in GFLOP/s is printed, to compare with the cores' peak.

    python benchmarks/throughput_rugged.py
    python benchmarks/throughput_rugged.py --quick    # 1,024 trajectories x 200 steps
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
)

one_device_per_core()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from numpy_reference import rugged_loss_and_grad, run_momentum  # noqa: E402

import lrscape  # noqa: E402


def matrix_products(landscape, x0: np.ndarray, steps: int):
    """One trajectory of the second ceiling: only the step's two matrix products."""
    import jax.numpy as jnp

    directions = jnp.asarray(landscape.directions)

    def one(lr, beta):
        def step(x, _):
            return x + (lr * beta) * ((x @ directions.T) @ directions), None

        return jax.lax.scan(step, jnp.asarray(x0), None, length=steps)[0][0]

    return one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 x 32 grid, 200 steps")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved rounds of lrscape and NumPy (default 3)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    side, steps = (32, 200) if args.quick else (64, 500)
    landscape = lrscape.landscapes.get("rugged-quadratic", dim=1000, amplitude=0.1,
                                       frequency=5.0, curvature=1.0)
    x0 = np.asarray(landscape.init(jax.random.key(0)))
    lrs = lrscape.logspace(1e-3, 3.0, side)
    betas = lrscape.linspace(0.0, 0.99, side)
    n = side * side
    work = n * steps

    def run_lrscape():
        return lrscape.sweep(landscape, "momentum", {"learning_rate": lrs, "momentum": betas},
                             steps=steps, record_every=10, x0=x0, progress=False)

    lr_flat, beta_flat = (m.ravel() for m in np.meshgrid(lrs, betas, indexing="ij"))
    loss_and_grad = rugged_loss_and_grad(1.0, 0.1, 5.0, landscape.directions, landscape.phases)
    starts = np.tile(x0, (n, 1))

    def run_numpy():
        return run_momentum(loss_and_grad, starts, lr_flat, beta_flat, steps=steps,
                            record_every=10)

    start = time.perf_counter()
    ds = run_lrscape()
    first = time.perf_counter() - start
    ref = run_numpy()
    times = interleaved_times({"lrscape": run_lrscape, "numpy": run_numpy}, args.repeats)
    t_jax, t_numpy = min(times["lrscape"]), min(times["numpy"])
    ratios = round_ratios(times["numpy"], times["lrscape"])
    sample = 8
    picks = np.arange(0, n, n // sample)
    t_python = best_time(
        lambda: [run_momentum(loss_and_grad, x0[None], lr_flat[i:i + 1], beta_flat[i:i + 1],
                              steps=steps, record_every=10) for i in picks], 1) * n / sample

    t_bare = t_products = np.inf
    bare = bare_heavy_ball(landscape.loss, jax.numpy.asarray(x0), steps, 10)
    products = matrix_products(landscape, x0, steps)
    for per_device in (128, 256, 512):
        t_bare = min(t_bare, best_time(
            sharded_runner(bare, lr_flat, beta_flat, per_device=per_device), args.repeats))
        t_products = min(t_products, best_time(
            sharded_runner(products, lr_flat, beta_flat, per_device=per_device), args.repeats))
    flops = 4 * landscape.dim * landscape.n_features * work

    agree = float(np.mean(ds.regime.values.ravel() == ref["regime"]))
    report(f"{n} trajectories x {steps} steps, 1,000-D rugged quadratic (64 cosines), heavy "
           "ball, records every 10 steps, regimes classified", work,
           seconds={"lrscape": t_jax, "numpy": t_numpy, "python loop": t_python},
           first=first, sample=sample, agreement=agree, target=3, unit=(1e6, "M"),
           ratios=ratios, json_path=args.json,
           extra={"bare_dynamics_traj_steps_per_s": work / t_bare,
                  "matrix_products_traj_steps_per_s": work / t_products,
                  "matrix_products_gflops": flops / t_products / 1e9})
    print(f"ceiling    : {work / t_bare / 1e6:9.3f} M trajectory-steps/s for the bare dynamics "
          f"and window means, no regime tracking (lrscape runs at {t_bare / t_jax:.0%} of it)")
    print(f"ceiling    : {work / t_products / 1e6:9.3f} M trajectory-steps/s for the two matrix "
          f"products alone, {flops / t_products / 1e9:.0f} GFLOP/s (lrscape runs at "
          f"{t_products / t_jax:.0%} of it)")

if __name__ == "__main__":
    main()
