"""What every benchmark script shares: one XLA CPU device per core, and best-of-n timing.

Import this before JAX: XLA reads the CPU device count when its backend starts.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any


def one_device_per_core() -> None:
    """Give JAX one CPU device per core (one XLA CPU device uses one core), unless
    ``JAX_NUM_CPU_DEVICES`` or ``XLA_FLAGS`` already says otherwise."""
    if "JAX_NUM_CPU_DEVICES" not in os.environ and "device_count" not in os.environ.get(
        "XLA_FLAGS", ""
    ):
        os.environ["JAX_NUM_CPU_DEVICES"] = str(os.cpu_count() or 1)


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    """The shortest of ``repeats`` wall-clock times of ``fn()``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(
    workload: str,
    work: float,
    *,
    seconds: dict[str, float],
    first: float,
    sample: int,
    agreement: float,
    target: float,
    unit: tuple[float, str],
    extra: dict[str, Any] | None = None,
    json_path: str | None = None,
) -> dict[str, Any]:
    """Print what a throughput benchmark measured and return it as a dict (also written to
    ``json_path`` if given).

    ``seconds`` holds the best times of ``"lrscape"``, ``"numpy"`` and ``"python loop"`` (the
    last extrapolated from ``sample`` trajectories) for ``work`` trajectory-steps; ``first``
    is lrscape's first call, compilation included; ``agreement`` is the fraction of
    trajectories both implementations label alike; ``unit`` is ``(scale, prefix)`` for the
    printed rates, e.g. ``(1e9, "G")``. ``extra`` figures are added to the dict as they are.
    """
    import jax

    t_jax, t_numpy, t_python = seconds["lrscape"], seconds["numpy"], seconds["python loop"]
    figures = {
        "workload": workload,
        "devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}",
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "lrscape_traj_steps_per_s": work / t_jax,
        "numpy_traj_steps_per_s": work / t_numpy,
        "python_loop_traj_steps_per_s": work / t_python,
        "ratio_lrscape_over_numpy": t_numpy / t_jax,
        "first_call_s_including_compile": first,
        "regime_agreement": agreement,
        **(extra or {}),
    }
    scale, prefix = unit
    print(f"workload   : {workload}")
    print(f"devices    : {figures['devices']} (jax {jax.__version__})")
    print(f"lrscape    : {work / t_jax / scale:9.3f} {prefix} trajectory-steps/s  "
          f"({t_jax:.2f} s; first call with compile {first:.2f} s)")
    print(f"numpy      : {work / t_numpy / scale:9.3f} {prefix} trajectory-steps/s  "
          f"({t_numpy:.2f} s)")
    print(f"python loop: {work / t_python / scale:9.4f} {prefix} trajectory-steps/s  "
          f"(extrapolated from {sample} trajectories)")
    print(f"ratio      : lrscape / numpy = {t_numpy / t_jax:.1f}x (target >= {target:g}x)")
    print(f"regimes    : {agreement:.4%} of trajectories labelled the same by both")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=2)
    return figures
