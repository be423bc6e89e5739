"""Does a change of lrscape's code keep every number? Write a fixed set of sweeps, then compare.

    python benchmarks/same_numbers.py write BEFORE     # with the code before the change
    python benchmarks/same_numbers.py write AFTER      # with the code after it
    python benchmarks/same_numbers.py compare BEFORE AFTER [--ignore-attrs A,B]

``write`` runs a handful of sweeps that between them use every part of the engine (heavy ball
on the valley with a store, a rugged quadratic, minibatch SGD on a finite-sum task with a seed
axis, Gaussian gradient noise as an axis under a swept schedule, curvature with several
eigenvalues and Lyapunov tracking on the MLP, tails and the trainability score, a list of
points, a Ray run) and keeps, for each, the zarr store the sweep wrote and the Dataset it
returned (written to zarr as well). ``compare`` reads two such folders and checks every
variable bit for bit (NaN equal to NaN), every coordinate, and every attribute but the
versions (and those named by ``--ignore-attrs``, for a change that adds an attribute on
purpose); it exits 1 and names what differs when anything does.

A refactoring that changes no computation must pass this. It is a script, not a test, because
XLA's results may differ in the last bit between processors: both folders must be written on
one machine. Four XLA CPU devices, as in the test suite, so every sweep is sharded.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")

import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

VERSION_KEYS = ("lrscape_version", "jax_version", "jaxlib_version")


def _sweeps() -> dict:
    import lrscape

    valley = lrscape.landscapes.get("narrow-valley")
    heavy_grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 48),
                  "momentum": lrscape.linspace(0.0, 0.95, 12)}
    return {
        "valley-momentum": dict(
            landscape=valley, optimizer="momentum", grid=heavy_grid, steps=400,
            record_every=10, chunk_size=64),
        "rugged-sgd": dict(
            landscape=lrscape.landscapes.get("rugged-quadratic", dim=64),
            optimizer="sgd", grid={"learning_rate": lrscape.logspace(1e-3, 1.0, 24)},
            steps=200, record_every=5),
        "linear-regression-seeds": dict(
            landscape=lrscape.landscapes.get("linear-regression"), optimizer="sgd",
            grid={"learning_rate": lrscape.logspace(1e-3, 0.3, 8), "seed": [0, 1, 2]},
            steps=200, record_every=10),
        "noise-axis-schedule": dict(
            landscape=lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 10.0]),
            optimizer="nesterov",
            grid={"learning_rate": lrscape.logspace(1e-3, 0.3, 8),
                  "gradient_noise": [0.0, 0.1, 1.0], "decay_steps": [100, 200]},
            optimizer_fixed={"momentum": 0.5}, schedule="cosine", steps=200,
            record_every=10),
        "mlp-curvature-lyapunov": dict(
            landscape=lrscape.landscapes.get("mlp"), optimizer="sgd",
            grid={"learning_rate": lrscape.linspace(0.1, 1.0, 6)}, steps=200,
            record_every=10, curvature_every=50, curvature_k=3, lyapunov=True),
        "double-well-tail-score": dict(
            landscape=lrscape.landscapes.get("double-well"), optimizer="sgd",
            grid={"learning_rate": lrscape.linspace(0.5, 2.2, 32)}, steps=300,
            record_every=10, keep_tail=True, trainability=True),
        "adam-records-off": dict(
            landscape=valley, optimizer="adam",
            grid={"learning_rate": lrscape.logspace(1e-4, 1.0, 16), "b1": [0.0, 0.9]},
            steps=100, record_every=10, records=False),
        "points": dict(
            landscape=valley, optimizer="momentum",
            points={"learning_rate": [0.001, 0.01, 0.03, 0.05],
                    "momentum": [0.0, 0.5, 0.9, 0.1]},
            steps=100, record_every=10, store=False),
        "valley-ray": dict(
            landscape=valley, optimizer="momentum", grid=heavy_grid, steps=400,
            record_every=10, chunk_size=64, executor="ray"),
    }


def write(folder: str) -> None:
    import lrscape

    os.makedirs(folder, exist_ok=False)
    ray_started = False
    for name, options in _sweeps().items():
        options = dict(options)
        fixed = options.pop("optimizer_fixed", None)
        if fixed:
            options["optimizer"] = lrscape.optimizers.get(options["optimizer"], **fixed)
        with_store = options.pop("store", True)
        if options.get("executor") == "ray" and not ray_started:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            ray_started = True
        store = os.path.join(os.path.abspath(folder), f"{name}.zarr") if with_store else None
        ds = lrscape.sweep(**options, store=store, progress=False)
        ds.to_zarr(os.path.join(folder, f"{name}.returned.zarr"), mode="w-")
        print(f"wrote {name}", flush=True)


def _differences(a: xr.Dataset, b: xr.Dataset, ignored: tuple[str, ...] = ()) -> list[str]:
    found = []
    if sorted(a.variables) != sorted(b.variables):
        found.append(f"variables {sorted(a.variables)} != {sorted(b.variables)}")
    for name in sorted(set(a.variables) & set(b.variables)):
        x, y = a[name], b[name]
        if x.dims != y.dims or x.dtype != y.dtype:
            found.append(f"{name}: {x.dims} {x.dtype} != {y.dims} {y.dtype}")
            continue
        if not np.array_equal(x.values, y.values,
                              equal_nan=np.issubdtype(x.dtype, np.floating)):
            found.append(f"{name}: values differ")
        if _plain(x.attrs) != _plain(y.attrs):
            found.append(f"{name}: attributes differ")
    attrs_a, attrs_b = ({k: v for k, v in ds.attrs.items()
                         if k not in VERSION_KEYS and k not in ignored} for ds in (a, b))
    if _plain(attrs_a) != _plain(attrs_b):
        keys = sorted(k for k in set(attrs_a) | set(attrs_b)
                      if _plain(attrs_a.get(k)) != _plain(attrs_b.get(k)))
        found.append(f"attributes differ: {keys}")
    return found


def _plain(value):  # noqa: ANN001, ANN202
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | list | tuple):
        return np.asarray(value).tolist()
    return value


def compare(before: str, after: str, ignored: tuple[str, ...] = ()) -> int:
    names = sorted(n for n in os.listdir(before) if n.endswith(".zarr"))
    if names != sorted(n for n in os.listdir(after) if n.endswith(".zarr")):
        print(f"the folders hold different stores: {names} vs {sorted(os.listdir(after))}")
        return 1
    failed = 0
    for name in names:
        a, b = (xr.open_zarr(os.path.join(folder, name)).load() for folder in (before, after))
        found = _differences(a, b, ignored)
        print(f"{'same' if not found else 'DIFFERENT'}  {name}")
        for line in found:
            print(f"    {line}")
        failed += bool(found)
    print(f"{len(names) - failed} of {len(names)} stores identical")
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "write":
        write(argv[1])
        return 0
    if len(argv) in (3, 5) and argv[0] == "compare":
        ignored = ()
        if len(argv) == 5 and argv[3] == "--ignore-attrs":
            ignored = tuple(argv[4].split(","))
        elif len(argv) == 5:
            print(__doc__)
            return 2
        return compare(argv[1], argv[2], ignored)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
