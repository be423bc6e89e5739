"""What every benchmark script shares: one XLA CPU device per core, interleaved timing, and
the bare dynamics the ceilings time.

Import this before JAX: XLA reads the CPU device count when its backend starts.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
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


def interleaved_times(fns: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions taking turns, for ``rounds`` rounds.

    On a shared machine the load changes from second to second. Running the implementations
    alternately lets each round's times, and so each round's ratio, see the same conditions;
    and a fast function is called several times per round, as many as make its turn about as
    long as the slowest function's single call, so that a hiccup of the machine weighs on both
    alike instead of doubling one short run. Every function has been called once before.
    """
    once = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        once[name] = time.perf_counter() - start
    longest = max(once.values())
    calls = {name: max(1, round(longest / t)) for name, t in once.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            times[name].append((time.perf_counter() - start) / calls[name])
    return times


def round_ratios(slow: list[float], fast: list[float], scale: float = 1.0) -> list[float]:
    """Per-round ratios ``scale * slow / fast`` of two interleaved timings."""
    return [scale * a / b for a, b in zip(slow, fast, strict=True)]


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
    ratios: list[float] | None = None,
    json_path: str | None = None,
) -> dict[str, Any]:
    """Print what a throughput benchmark measured and return it as a dict (also written to
    ``json_path`` if given).

    ``seconds`` holds the best times of ``"lrscape"``, ``"numpy"`` and ``"python loop"`` (the
    last extrapolated from ``sample`` trajectories) for ``work`` trajectory-steps; ``first``
    is lrscape's first call, compilation included; ``agreement`` is the fraction of
    trajectories both implementations label alike; ``unit`` is ``(scale, prefix)`` for the
    printed rates, e.g. ``(1e9, "G")``. ``extra`` figures are added to the dict as they are.
    ``ratios``: the lrscape / NumPy ratio of each interleaved round; their median and range are
    printed and stored too.
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
    if ratios:
        figures["round_ratios"] = ratios
        figures["median_round_ratio"] = statistics.median(ratios)
    scale, prefix = unit
    print(f"workload   : {workload}")
    print(f"devices    : {figures['devices']} (jax {jax.__version__})")
    print(f"lrscape    : {work / t_jax / scale:9.3f} {prefix} trajectory-steps/s  "
          f"({t_jax:.2f} s; first call with compile {first:.2f} s)")
    print(f"numpy      : {work / t_numpy / scale:9.3f} {prefix} trajectory-steps/s  "
          f"({t_numpy:.2f} s)")
    print(f"python loop: {work / t_python / scale:9.4f} {prefix} trajectory-steps/s  "
          f"(extrapolated from {sample} trajectories)")
    print(f"ratio      : lrscape / numpy = {t_numpy / t_jax:.1f}x, best against best "
          f"(target >= {target:g}x)")
    if ratios:
        print(f"rounds     : median {statistics.median(ratios):.1f}x, range "
              f"{min(ratios):.1f}-{max(ratios):.1f}x over {len(ratios)} interleaved rounds")
    print(f"regimes    : {agreement:.4%} of trajectories labelled the same by both")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=2)
    return figures


def bare_heavy_ball(loss: Callable[[Any], Any], x0: Any, steps: int,
                    record_every: int) -> Callable[[Any, Any], Any]:
    """One trajectory of the bare dynamics, as a function ``(lr, beta) -> window means``:
    optax's heavy ball on ``loss`` from ``x0``, with the mean loss of every ``record_every``
    steps, and nothing else (no regime tracking, no divergence checks). The benchmarks' ceiling.
    """
    import jax
    import jax.numpy as jnp
    import optax

    def factory(learning_rate: Any, momentum: Any) -> Any:
        return optax.sgd(learning_rate, momentum=momentum)

    def one(lr: Any, beta: Any) -> Any:
        # hyperparameters injected into the state, as lrscape's sweep has them
        tx = optax.inject_hyperparams(factory)(learning_rate=lr, momentum=beta)

        def step(carry, _):
            x, state, total = carry
            value, grads = jax.value_and_grad(loss)(x)
            updates, state = tx.update(grads, state, x)
            return (optax.apply_updates(x, updates), state, total + value), None

        def window(carry, _):
            carry, _ = jax.lax.scan(step, carry, None, length=record_every)
            x, state, total = carry
            return (x, state, jnp.zeros_like(total)), total / record_every

        init = (x0, tx.init(x0), jnp.zeros((), jnp.float32))
        return jax.lax.scan(window, init, None, length=steps // record_every)[1]

    return one


def sharded_runner(one: Callable[..., Any], *columns: Any,
                   per_device: int | None = None) -> Callable[[], Any]:
    """A function running ``jit(vmap(one))`` over ``columns`` (one value per trajectory),
    sharded over every device, in chunks of ``per_device`` trajectories per device (default:
    all at once); compiled and run once before it is returned."""
    import jax
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("batch",)), PartitionSpec("batch"))
    n = len(columns[0])
    chunk = n if per_device is None else per_device * jax.device_count()
    if n % chunk:
        raise ValueError(f"{n} trajectories do not split into chunks of {chunk}")
    pieces = [jax.device_put(tuple(np.asarray(c[i:i + chunk], np.float32) for c in columns),
                             sharding)
              for i in range(0, n - chunk + 1, chunk)]
    run = jax.jit(jax.vmap(one))

    def call() -> Any:
        return jax.block_until_ready([run(*piece) for piece in pieces])

    call()
    return call
