"""The ``lrscape`` command: ``sweep``, ``plot`` and ``list``, thin over the library.

    lrscape sweep                                   # the default sweep -> .zarr + .png
    lrscape sweep --landscape quadratic --set eigenvalues=1,10 --optimizer sgd \\
                  --lr 1e-3:1:256:log --steps 500 --out quad.zarr
    lrscape sweep --config sweep.toml               # the same options from a TOML file
    lrscape sweep --import my_landscapes.py --landscape my-bowl   # your own landscape
    lrscape plot quad.zarr --out quad.png
    lrscape list
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import tomllib
import warnings
from types import ModuleType
from typing import Any

from ._version import code_versions

DEFAULT_OUT = "lrscape-sweep.zarr"
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)

DEFAULTS: dict[str, Any] = {
    "landscape": "narrow-valley",
    "optimizer": "momentum",
    "grid": {"learning_rate": "1e-3:0.1:256:log", "momentum": "0:0.95:96"},
    "steps": 1000,
    "record_every": 10,
    "seed": 0,
    "dtype": "float32",
}


def _use_all_cpu_cores() -> None:
    """One XLA CPU device uses one core: give JAX one device per core unless told otherwise."""
    if "JAX_NUM_CPU_DEVICES" in os.environ or "device_count" in os.environ.get("XLA_FLAGS", ""):
        return
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", max(os.cpu_count() or 1, 1))
    except RuntimeError:  # the backend is already up (e.g. main() called from Python)
        pass


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if "," in text:
        return [_number(t) for t in text.split(",") if t.strip()]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() == "none":
        return None
    return text


def _pairs(items: list[str] | None, flag: str) -> dict[str, Any]:
    out = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise SystemExit(f"lrscape: {flag} expects NAME=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _load_config(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        raise SystemExit(f"lrscape: --config {path!r}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise SystemExit(f"lrscape: --config {path!r}: not valid TOML ({err})") from None
    known = {"landscape", "landscape_fields", "optimizer", "optimizer_values", "schedule",
             "grid", "steps", "record_every", "seed", "dtype", "thresholds", "out", "plot",
             "chunk_size", "gradient_noise", "max_memory", "executor", "address", "import",
             "curvature_every", "curvature_k", "lyapunov"}
    if unknown := sorted(set(config) - known):
        raise SystemExit(f"lrscape: --config {path!r}: unknown keys {unknown}; "
                         f"known: {sorted(known)}")
    if "import" in config:
        imports = config["import"]
        imports = [imports] if isinstance(imports, str) else imports
        if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
            raise SystemExit(f"lrscape: --config {path!r}: `import` must be a module name, a "
                             f".py path or a list of them, got {config['import']!r}")
        # a file named in the TOML file is found next to it
        here = os.path.dirname(os.path.abspath(path))
        config["import"] = [os.path.join(here, i) if _is_path(i) else i for i in imports]
    return config


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def _import_modules(specs: list[str]) -> list[ModuleType]:
    """Import the user's modules named by ``--import`` (a dotted name, found in the current
    directory or on ``sys.path`` as ``python -m`` finds it, or a path to a ``.py`` file), so
    that the landscapes and schedules they register can be named on the command line."""
    modules = []
    for spec in specs:
        if _is_path(spec):
            path = os.path.abspath(spec)
            if not os.path.isfile(path):
                raise ValueError(f"--import {spec!r}: no such file")
            name = os.path.splitext(os.path.basename(path))[0]
            loaded = sys.modules.get(name)
            if loaded is not None:
                if os.path.abspath(getattr(loaded, "__file__", None) or "") == path:
                    modules.append(loaded)
                    continue
                raise ValueError(f"--import {spec!r}: a module named {name!r} is already "
                                 f"imported ({loaded!r}); rename the file")
            found = importlib.util.spec_from_file_location(name, path)
            if found is None or found.loader is None:
                raise ValueError(f"--import {spec!r}: not a Python file")
            module = importlib.util.module_from_spec(found)
            sys.modules[name] = module
            try:
                found.loader.exec_module(module)
            except BaseException as err:
                del sys.modules[name]
                if isinstance(err, ImportError):  # something the module imports is missing
                    raise ValueError(f"--import {spec!r}: {err}") from err
                raise
        else:
            if os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())
            try:
                module = importlib.import_module(spec)
            except ImportError as err:
                if err.name is None or not (spec == err.name or spec.startswith(err.name + ".")):
                    # the module was found; something it imports is missing
                    raise ValueError(f"--import {spec!r}: {err}") from err
                raise ValueError(f"--import {spec!r}: no module named {err.name!r} in the "
                                 "current directory or on sys.path") from None
        modules.append(module)
    return modules


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Defaults, then the TOML file, then command-line flags."""
    config = _load_config(args.config)
    has_own_grid = bool(config.get("grid")) or args.lr or args.axis
    settings = {**DEFAULTS, **config}
    if has_own_grid:
        settings["grid"] = dict(config.get("grid", {}))
    for key in ("landscape", "optimizer", "steps", "record_every", "seed", "dtype", "out",
                "plot", "chunk_size", "gradient_noise", "max_memory", "executor", "address",
                "curvature_every", "curvature_k", "lyapunov"):
        value = getattr(args, key)
        if value is not None:
            settings[key] = value
    settings["import"] = [*settings.get("import", []), *(args.imports or [])]
    if args.landscape and args.landscape != config.get("landscape"):
        settings["landscape_fields"] = {}
    settings.setdefault("landscape_fields", {})
    settings["landscape_fields"] = {**settings["landscape_fields"],
                                    **{k: _number(v) for k, v in _pairs(args.set, "--set").items()}}
    settings.setdefault("optimizer_values", {})
    settings["optimizer_values"] = {**settings["optimizer_values"],
                                    **{k: _number(v) for k, v in _pairs(args.opt, "--opt").items()}}
    if args.threshold:
        settings["thresholds"] = {**settings.get("thresholds", {}), **{
            k: _number(v) for k, v in _pairs(args.threshold, "--threshold").items()}}
    if args.schedule:
        settings["schedule"] = {"name": args.schedule}
    if args.schedule_set:
        settings.setdefault("schedule", {"name": "constant"})
        settings["schedule"] = {**settings["schedule"], **{
            k: _number(v) for k, v in _pairs(args.schedule_set, "--schedule-set").items()}}
    if args.lr:
        settings["grid"]["learning_rate"] = args.lr
    settings["grid"].update(_pairs(args.axis, "--axis"))
    settings.setdefault("out", DEFAULT_OUT)
    return settings


def _flag(s: dict[str, Any], key: str) -> bool:
    value = s.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"`{key}` must be true or false, got {value!r}")
    return value


def _vectors(get: Any, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as given, except that a vector field given one number takes it as a 1-vector.

    ``--set eigenvalues=1`` reads as the number 1 (a comma makes a list); the quadratic's
    ``eigenvalues`` is a sequence, so it becomes ``[1]``.
    """
    vector_fields = getattr(type(get(name)), "_array_fields", ())
    return {k: [v] if k in vector_fields and isinstance(v, int | float)
            and not isinstance(v, bool) else v for k, v in fields.items()}


def _problem(s: dict[str, Any]) -> tuple[Any, Any, Any, dict[str, Any], str]:
    """Landscape, optimizer, schedule, grid and dtype from the merged settings."""
    import lrscape

    landscape = lrscape.landscapes.get(
        s["landscape"], **_vectors(lrscape.landscapes.get, s["landscape"], s["landscape_fields"]))
    optimizer = lrscape.optimizers.get(s["optimizer"], **s["optimizer_values"])
    schedule = None
    if s.get("schedule"):
        fields = dict(s["schedule"])
        name = fields.pop("name", None)
        if name is None:
            raise ValueError("[schedule] needs a `name`")
        schedule = lrscape.schedules.get(name, **_vectors(lrscape.schedules.get, name, fields))
    grid = {k: lrscape.grid.parse_axis(v) if isinstance(v, str) else v
            for k, v in s["grid"].items()}
    if (not any(k.split("@")[0] == "learning_rate" for k in grid)
            and optimizer.hyperparams.get("learning_rate", 0) is None):
        # an own grid replaces the default one, learning rates included
        raise ValueError(f"the grid {list(grid)} has no learning rate: add --lr "
                         "START:STOP:NUM[:log], or fix one with --opt learning_rate=VALUE "
                         "(in a TOML file: learning_rate in [grid] or [optimizer_values])")
    dtype = {"float32": "float32", "float64": "float64"}.get(str(s["dtype"]))
    if dtype is None:
        raise ValueError(f"--dtype must be float32 or float64, got {s['dtype']!r}")
    return landscape, optimizer, schedule, grid, dtype


def _cmd_refine(args: argparse.Namespace) -> int:
    _use_all_cpu_cores()
    import lrscape

    s = _settings(args)
    out = args.out or "refined.zarr"
    try:
        _import_modules(s["import"])
        landscape, optimizer, schedule, grid, dtype = _problem(s)
        if len(grid) != 2:
            raise ValueError(f"refine needs exactly two axes (--lr/--axis), got {list(grid)}")
        lrscape.store.check_image_path(out)
        image = lrscape.refine(
            landscape, optimizer, grid, coarse=args.coarse, by=args.by,
            steps=int(s["steps"]), seed=int(s["seed"]), schedule=schedule, dtype=dtype,
            thresholds=s.get("thresholds"), progress=args.progress)
        lrscape.store.write_image(image, out)
    except (ValueError, ImportError) as err:
        print(f"lrscape refine: {err}", file=sys.stderr)
        return 2
    n = image[args.by].size
    print(f"wrote {out}: {n} pixels from {image.attrs['evaluated']} trajectories "
          f"({image.attrs['saving']:.1f}x fewer than the full grid)")
    plot_path = s.get("plot")
    if plot_path is None:
        plot_path = os.path.splitext(out.rstrip("/"))[0] + ".png"
    if plot_path:
        _save_figure(image, plot_path, None, None, {})
        print(f"wrote {plot_path}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    _use_all_cpu_cores()
    import lrscape

    s = _settings(args)
    try:
        modules = _import_modules(s["import"])
        landscape, optimizer, schedule, grid, dtype = _problem(s)
        executor = s.get("executor", "local")
        if s.get("address") is not None and executor != "ray":
            raise ValueError(f"--address {s['address']!r} needs --executor ray")
        if executor == "ray":
            # the workers get the imported modules' code with the job: they need not find them
            executor = lrscape.executors.RayExecutor(address=s.get("address"),
                                                     by_value=modules)
        ds = lrscape.sweep(
            landscape, optimizer, grid, steps=int(s["steps"]),
            record_every=int(s["record_every"]), seed=int(s["seed"]), schedule=schedule,
            thresholds=s.get("thresholds"), dtype=dtype, chunk_size=s.get("chunk_size"),
            progress=args.progress, store=s["out"],
            # the records stay in the store: the figure reads those of the curves it draws
            records=False,
            gradient_noise=float(s.get("gradient_noise", 0.0)), max_memory=s.get("max_memory"),
            executor=executor, curvature_every=s.get("curvature_every"),
            curvature_k=s.get("curvature_k", 1), lyapunov=_flag(s, "lyapunov"),
        )
    except (ValueError, ImportError) as err:
        print(f"lrscape sweep: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lrscape sweep: interrupted; {_stored_so_far(s['out'])}", file=sys.stderr)
        return INTERRUPTED
    except OSError as err:  # the store's disk: full, gone, read-only ...
        print(f"lrscape sweep: {err}; {_stored_so_far(s['out'])}", file=sys.stderr)
        return 1
    counts = {r.name.lower(): int((ds["regime"] == r).sum()) for r in lrscape.Regime}
    print(f"wrote {s['out']}: {ds['regime'].size} trajectories x {s['steps']} steps; "
          + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    plot_path = s.get("plot")
    if plot_path is None:
        plot_path = os.path.splitext(os.fspath(s["out"]).rstrip("/"))[0] + ".png"
    if plot_path and ds["regime"].ndim >= 1:
        x, y, select, first = _slice_to_draw(ds, None, None, {})
        _save_figure(ds, plot_path, x, y, select, store=s["out"])
        print(f"wrote {plot_path}{_which_slice(first, s['out'])}")
    return 0


def _plot() -> ModuleType:
    """``lrscape.plot``, on matplotlib's file backend (the command line draws no windows)."""
    import matplotlib

    matplotlib.use("Agg")
    from . import plot

    return plot


def _slice_to_draw(ds: Any, x: str | None, y: str | None, select: dict[str, float]
                   ) -> tuple[str, str | None, dict[str, float], dict[str, float]]:
    """The axes drawn across and up, and the values of the others: those not selected take
    their first value (also returned on their own, to be said)."""
    plot = _plot()
    x, y = plot.plane_axes(ds, x, y)
    first = {a: ds[a].values[0].item() for a in plot.grid_axes(ds) if a not in (x, y, *select)}
    return x, y, {**select, **first}, first


def _which_slice(first: dict[str, float], store: str) -> str:
    if not first:
        return ""
    sliced = ", ".join(f"{a} = {v:g}" for a, v in first.items())
    return f" (at {sliced}; `lrscape plot {store} --select AXIS=VALUE` draws another slice)"


def _stored_so_far(out: str) -> str:
    """What an interrupted sweep left in its store, and how to go on."""
    from .store import chunks_done

    try:
        done, total = chunks_done(out)
    except Exception:  # not created yet, or not a store of this sweep
        return "nothing of this sweep is stored yet"
    return (f"{done} of {total} chunks are stored in {out}; the same command computes the "
            f"other {total - done}")


def _save_figure(ds: Any, path: str, x: str | None, y: str | None, select: dict,
                 store: str | None = None) -> None:
    """A sweep's summary figure, or a refined image's class image; ``store``: where the
    records of the trajectories drawn are read, when ``ds`` was read without them."""
    plot = _plot()
    import matplotlib.pyplot as plt

    from .store import REFINED

    if REFINED not in ds.attrs:
        plot.summary_figure(ds, path, x=x, y=y, select=select or None, store=store)
        return
    by = ds.attrs[REFINED]
    rows, cols = ds[by].dims  # by default the first axis up, as refine lays the image out
    if select:
        raise ValueError(f"--select does not apply to a refined image: its only axes are "
                         f"{rows} and {cols}")
    if x is None:
        x = rows if y == cols else cols
    if y is None:
        y = rows if x == cols else cols
    for name, value in (("--x", x), ("--y", y)):
        if value not in (rows, cols):
            raise ValueError(f"{name} {value!r} is not an axis of the image: {rows}, {cols}")
    if x == y:
        raise ValueError(f"--x and --y are both {x!r}")
    fig, ax = plt.subplots(figsize=(7, 6), constrained_layout=True)
    if by == "trainable":
        plot.trainability_image(ds.transpose(y, x, ...), ax, title=(
            f"{ds.attrs['landscape']}, {ds.attrs['optimizer']}: refined from "
            f"{ds.attrs['evaluated']} runs"))
    else:
        plot.phase_diagram(ds, x=x, y=y, ax=ax)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _cmd_plot(args: argparse.Namespace) -> int:
    import lrscape

    from .store import REFINED

    try:
        # the records of the few trajectories drawn are read alone: a store of any size
        ds = lrscape.open(args.store, records=False)
        out = args.out or os.path.splitext(os.fspath(args.store).rstrip("/"))[0] + ".png"
        select = {}
        for key, value in _pairs(args.select, "--select").items():
            if not isinstance(_number(value), int | float):
                raise ValueError(f"--select expects AXIS=NUMBER, got {key}={value}")
            select[key] = float(value)
        x, y, first = args.x, args.y, {}
        if REFINED not in ds.attrs:
            x, y, select, first = _slice_to_draw(ds, x, y, select)
        _save_figure(ds, out, x, y, select, store=args.store)
    except (ValueError, FileNotFoundError) as err:
        print(f"lrscape plot: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}{_which_slice(first, args.store)}")
    if "computed" in ds:
        print(f"{args.store} is incomplete: {float(ds['computed'].mean()):.0%} of its "
              "trajectories are computed (the rest is grey); rerun its sweep to finish it")
    return 0


def _summary(obj: Any) -> str:
    """The first line of ``obj``'s docstring for a terminal: a role such as ``:math:`H/B```
    becomes its text, a literal ````final```` becomes ```final```, ``\\le`` becomes ``<=``."""
    import inspect
    import re

    lines = (inspect.getdoc(obj) or "").splitlines()
    line = lines[0] if lines else ""
    line = re.sub(r":\w+:`([^`]*)`", r"\1", line)
    line = re.sub(r"``([^`]*)``", r"`\1`", line)
    return line.replace("\\le", "<=").replace("\\ge", ">=")


def _cmd_list(args: argparse.Namespace) -> int:
    import lrscape

    try:
        _import_modules(args.imports or [])
    except ValueError as err:
        print(f"lrscape list: {err}", file=sys.stderr)
        return 2
    what = args.what
    if what in (None, "landscapes"):
        print("landscapes (lrscape.landscapes.get(name, **fields)):")
        for name in lrscape.landscapes.available():
            cls = type(lrscape.landscapes.get(name))
            print(f"  {name:<20} {_summary(cls)}")
            print(f"  {'':<20} sweepable: {', '.join(cls.sweepable_fields())}")
    if what in (None, "optimizers"):
        print("optimizers (lrscape.optimizers.get(name, **values)):")
        for name in lrscape.optimizers.available():
            opt = lrscape.optimizers.get(name)
            hyper = ", ".join(f"{k}={'required' if v is None else v}"
                              for k, v in opt.hyperparams.items())
            print(f"  {name:<20} {hyper}")
    if what in (None, "schedules"):
        print("schedules (lrscape.schedules.get(name, **fields)):")
        for name in lrscape.schedules.available():
            cls = type(lrscape.schedules.get(name))
            print(f"  {name:<20} {_summary(cls)}")
    return 0


def _problem_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say what to simulate, shared by `sweep` and `refine`."""
    parser.add_argument("--config", help="a TOML file with the same settings (flags override it)")
    _import_flag(parser)
    parser.add_argument("--landscape", help="landscape name (see `lrscape list`)")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE",
                    help="a landscape field, e.g. --set wall_curvature=50 (repeatable)")
    parser.add_argument("--optimizer", help="optimizer name (see `lrscape list`)")
    parser.add_argument("--opt", action="append", metavar="NAME=VALUE",
                    help="a fixed optimizer hyperparameter or option, e.g. --opt momentum=0.5")
    parser.add_argument("--schedule", help="schedule name (see `lrscape list`)")
    parser.add_argument("--schedule-set", action="append", metavar="FIELD=VALUE",
                    help="a schedule field, e.g. --schedule-set decay_steps=500")
    parser.add_argument("--lr", metavar="SPEC",
                    help="learning-rate axis: START:STOP:NUM[:log|lin] or v1,v2,...")
    parser.add_argument("--axis", action="append", metavar="NAME=SPEC",
                    help="another grid axis, e.g. --axis momentum=0:0.99:64 (repeatable)")
    parser.add_argument("--steps", type=int, help="updates per trajectory (default 1000)")
    parser.add_argument("--seed", type=int, help="seed of the starting points, minibatch "
                        "order and noise (default 0)")
    parser.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    parser.add_argument("--out", help=f"results store (default {DEFAULT_OUT})")
    parser.add_argument("--plot", help="figure path (default: the store's name with .png; "
                                       "'' for none)")
    parser.add_argument("--threshold", action="append", metavar="NAME=VALUE",
                        help="a threshold of the regime classifier, e.g. --threshold "
                        "max_period=32 (repeatable; see lrscape.Thresholds)")


def _import_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        help="a module (name, or path to a .py file) to import first, such as "
                        "one that registers your own landscapes or schedules (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrscape",
        description="Simulate optimizers on synthetic loss landscapes over hyperparameter "
                    "grids and map their regimes.",
    )
    versions = code_versions()
    parser.add_argument("--version", action="version",
                        version=f"lrscape {versions['lrscape_version']} "
                                f"(jax {versions['jax_version']})")
    sub = parser.add_subparsers(dest="command", required=True)

    sw = sub.add_parser("sweep", help="run a sweep, write a zarr store and a phase diagram",
                        description="Run a sweep. With no options: heavy-ball momentum on a "
                                    "2-D narrow valley over learning rate x momentum.")
    _problem_flags(sw)
    sw.add_argument("--record-every", type=int, help="record window in steps (default 10)")
    sw.add_argument("--gradient-noise", type=float, metavar="SIGMA",
                    help="add N(0, SIGMA^2) noise to every gradient (default 0; also an axis: "
                    "--axis gradient_noise=0:1:8)")
    sw.add_argument("--chunk-size", type=int, help="trajectories per compiled call")
    sw.add_argument("--max-memory", metavar="SIZE",
                    help="memory one compiled call may use, e.g. 4GiB (default: a quarter of "
                    "the RAM up to 2 GiB, or half of the GPUs' memory)")
    sw.add_argument("--executor", choices=["local", "ray"],
                    help="who computes the chunks: this process (local, the default) or Ray "
                    "tasks, each writing its own region of the store")
    sw.add_argument("--address", help="with --executor ray: the Ray cluster to join (e.g. "
                    "auto, or ray://HOST:10001; default: a running one, else a local one)")
    sw.add_argument("--curvature-every", type=int, metavar="N",
                    help="measure the sharpness (top Hessian eigenvalue) at step 0 and every N "
                    "steps, a multiple of --record-every; the figure draws it against the edge "
                    "of stability")
    sw.add_argument("--curvature-k", type=int, metavar="K",
                    help="with --curvature-every, also record the top K eigenvalues")
    sw.add_argument("--lyapunov", action=argparse.BooleanOptionalAction, default=None,
                    help="also estimate each trajectory's largest Lyapunov exponent (positive: "
                    "chaos; about doubles the cost)")
    sw.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="progress bar (default: only on a terminal)")
    sw.set_defaults(func=_cmd_sweep)

    rf = sub.add_parser(
        "refine", help="the class image of two axes, simulated only where the class changes",
        description="Adaptive boundary refinement (lrscape.refine): a coarse lattice, then "
                    "only cells whose pixels disagree are subdivided. Each axis needs "
                    "(coarse - 1) * 2**L + 1 values, e.g. 1025 with --coarse 33.")
    _problem_flags(rf)
    rf.add_argument("--coarse", type=int, default=33, help="points per side of the first "
                    "lattice (default 33)")
    rf.add_argument("--by", choices=["trainable", "regime"], default="trainable",
                    help="the class whose boundary is refined (default trainable)")
    rf.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)
    rf.set_defaults(func=_cmd_refine, record_every=None, chunk_size=None, gradient_noise=None,
                    max_memory=None, executor=None, address=None, curvature_every=None,
                    curvature_k=None, lyapunov=None)

    pl = sub.add_parser("plot", help="draw the phase diagram of a results store")
    pl.add_argument("store", help="a zarr store written by `lrscape sweep` (also part-way) or "
                    "`lrscape refine`")
    pl.add_argument("--x", help="grid axis across (default: learning_rate)")
    pl.add_argument("--y", help="grid axis up (default: the other one)")
    pl.add_argument("--select", action="append", metavar="AXIS=VALUE",
                    help="value of a further grid axis (repeatable; default: its first)")
    pl.add_argument("--out", help="PNG path (default: the store's name with .png)")
    pl.set_defaults(func=_cmd_plot)

    ls = sub.add_parser("list", help="list landscapes, optimizers and schedules")
    ls.add_argument("what", nargs="?", choices=["landscapes", "optimizers", "schedules"])
    _import_flag(ls)
    ls.set_defaults(func=_cmd_list)
    return parser


def _show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    print(f"lrscape: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning  # one line, without Python's source context
            return args.func(args)
    except BrokenPipeError:  # the reader stopped early (`lrscape list | head`): not an error
        # stdout can no longer be flushed; point it at /dev/null so that exiting does not fail
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"lrscape {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
