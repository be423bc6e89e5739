"""What every benchmark script shares: one XLA CPU device per core, and best-of-n timing.

Import this before JAX: XLA reads the CPU device count when its backend starts.
"""

from __future__ import annotations

import os
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
