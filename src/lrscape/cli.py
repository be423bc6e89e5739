"""The ``lrscape`` command: ``sweep``, ``refine``, ``plot``, ``verify`` and ``list``, thin over the
library.

    lrscape sweep                                   # the default sweep -> .zarr + .png
    lrscape sweep --landscape quadratic --set eigenvalues=1,10 --optimizer sgd \\
                  --lr 1e-3:1:256:log --steps 500 --out quad.zarr
    lrscape sweep --config sweep.toml               # the same options from a TOML file
    lrscape sweep --import my_landscapes.py --landscape my-bowl   # your own landscape
    lrscape sweep --points learning_rate=0.01,0.02 --points momentum=0.5,0.9   # two runs
    lrscape plot quad.zarr --out quad.png
    lrscape verify quad.zarr                        # every chunk against its checksums
    lrscape list

The settings of ``sweep`` and ``refine`` are :class:`Option` objects built from the library's
own: the experiment's (``Experiment.create``'s defaults), what is observed (one flag per field
of :class:`~lrscape.observe.Observe`, its help from the field's metadata), and how a sweep
runs. Each is a flag ``--the-key`` and a TOML key ``the_key``; ``--help`` shows the library's
defaults. Only the command line's own defaults (the landscape, optimizer and grid of the
default sweep, the output paths) are set here.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import os
import re
import sys
import tomllib
import traceback
import typing
import warnings
from collections.abc import Collection, Sequence
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import _cli_list, cache
from ._cli_list import add_list_parser
from ._version import code_versions
from .experiment import Experiment
from .observe import Observe
from .refine import CLASSES
from .refine import refine as _refine
from .twin._cli import add_parser as add_twin_parser

#: What ``lrscape sweep`` with no options simulates (the library has no default for these):
#: heavy-ball momentum on the narrow valley over learning rate x momentum.
DEFAULT_LANDSCAPE = "narrow-valley"
DEFAULT_OPTIMIZER = "momentum"
DEFAULT_GRID = {"learning_rate": "1e-3:0.1:256:log", "momentum": "0:0.95:96"}
DEFAULT_OUT = "lrscape-sweep.zarr"  # the store of `lrscape sweep`
DEFAULT_IMAGE = "refined.zarr"  # the class image of `lrscape refine`
INTERRUPTED = 130  # the exit status of a command stopped by Ctrl-C (128 + SIGINT)
#: The most points ``lrscape sweep --points`` prints a line of (all are in ``--out``).
MAX_POINT_LINES = 40

#: The TOML tables (and ``import``) that the flags of :func:`_table_flags` fill.
TABLES = ("landscape_fields", "optimizer_values", "schedule", "grid", "thresholds", "import")

_WHAT = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
_ACCEPTS: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float),
                                          str: (str,)}


class Option(NamedTuple):
    """One setting of ``lrscape sweep`` or ``lrscape refine``: its TOML key, which is also the
    keyword of the library call it goes to, its flag ``--the-key``, and what ``--help`` says.

    ``default`` is shown by ``--help`` and used when neither the TOML file nor a flag sets
    the key; where it is ``None`` the library decides, and the help says what happens.
    """

    key: str
    kind: type  # bool (a --key / --no-key pair), int, float or str
    help: str
    default: Any = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    also: tuple[type, ...] = ()  # further types a TOML value may have

    @property
    def flag(self) -> str:
        """``--the-key``."""
        return "--" + self.key.replace("_", "-")

    def add_to(self, parser: Any, keys: Collection[str]) -> None:
        """Add the flag to ``parser`` (a parser or a group); a name in backquotes in the help
        that is one of ``keys`` reads as its flag."""
        text = re.sub(r"`(\w+)`", lambda m: ("--" + m[1].replace("_", "-")) if m[1] in keys
                      else m[0], self.help)
        if self.default is not None:
            text += f" (default: {_shown(self.default)})"
        text = text.replace("%", "%%")  # argparse formats help with %
        if self.kind is bool:
            parser.add_argument(self.flag, dest=self.key, action=argparse.BooleanOptionalAction,
                                default=None, help=text)
        else:
            parser.add_argument(self.flag, dest=self.key, type=self.kind, metavar=self.metavar,
                                choices=self.choices, help=text)

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` as this key's value in a TOML file, or ``None``."""
        kinds = (self.kind, *self.also)
        accepted = tuple(t for kind in kinds for t in _ACCEPTS[kind])
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in kinds):
            return f"must be {' or '.join(_WHAT[kind] for kind in kinds)}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(self.choices)}, got {value!r}"
        return None


def _shown(value: Any) -> str:
    """A default as ``--help`` shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, np.dtype):
        return value.name
    return str(value)


def _kind(hint: Any) -> type:
    """``bool``, ``int``, ``float`` or ``str`` from a field's annotation: the one of them it
    names (``int | None`` is ``int``; ``str | Plane`` is ``str``, the objects that only the
    library takes being left out)."""
    kinds = [t for t in typing.get_args(hint) or (hint,) if t in _WHAT]
    if len(kinds) != 1:
        raise TypeError(f"no command-line flag for a setting annotated {hint}")
    return kinds[0]


def _problem_options() -> list[Option]:
    return [Option("landscape", str, "landscape name (see `lrscape list`)", DEFAULT_LANDSCAPE,
                   "NAME"),
            Option("optimizer", str, "optimizer name (see `lrscape list`)", DEFAULT_OPTIMIZER,
                   "NAME")]


#: The settings of :meth:`Experiment.create <lrscape.experiment.Experiment.create>` that a
#: default there and one flag each set: kind, metavar, help, choices. Their defaults are the
#: library's.
_SIMULATION: dict[str, tuple[type, str | None, str, tuple[str, ...] | None]] = {
    "steps": (int, "N", "updates per trajectory", None),
    "seed": (int, "N", "seed of the starting points, minibatch order and noise", None),
    "dtype": (str, None, "floating-point type of the simulation", ("float32", "float64")),
    "gradient_noise": (float, "SIGMA", "add N(0, SIGMA^2) noise to every gradient (also an "
                       "axis: --axis gradient_noise=0:1:8)", None),
}


def _simulation_options() -> list[Option]:
    """The experiment's settings, with the defaults of ``Experiment.create``'s signature (where
    that is ``None``, the default of the :class:`~lrscape.experiment.Experiment` made)."""
    signature = inspect.signature(Experiment.create).parameters
    made = {f.name: f.default for f in dataclasses.fields(Experiment)}
    options = []
    for key, (kind, metavar, text, choices) in _SIMULATION.items():
        default = signature[key].default
        options.append(Option(key, kind, text, made[key] if default is None else default,
                              metavar, choices))
    return options


def _observe_options() -> list[Option]:
    """One setting per field of :class:`~lrscape.observe.Observe`: its default, its type from
    the annotation, its help from the field's metadata."""
    hints = typing.get_type_hints(Observe)
    options = []
    for field in dataclasses.fields(Observe):
        kind = _kind(hints[field.name])
        choices = field.metadata.get("choices")
        options.append(Option(field.name, kind, field.metadata.get("help", ""), field.default,
                              None if kind is bool or choices else "N", choices))
    return options


_PROGRESS = Option("progress", bool, "progress bar (default: only on a terminal)")


def _run_options() -> list[Option]:
    """How ``lrscape sweep`` runs: its keywords of :func:`lrscape.sweep` (``address`` goes to
    the Ray executor)."""
    return [
        Option("chunk_size", int, "trajectories per compiled call (default: as many as fit in "
               "`max_memory`)", metavar="N"),
        Option("max_memory", str, "memory one compiled call may use, e.g. 4GiB (default: a "
               "quarter of the RAM up to 2 GiB, or half of the GPUs' memory)", metavar="SIZE",
               also=(int,)),
        Option("executor", str, "who computes the chunks: this process (local, the default) "
               "or Ray tasks, each writing its own region of the store",
               choices=("local", "ray")),
        Option("address", str, "with `executor` ray: the Ray cluster to join (e.g. auto, or "
               "ray://HOST:10001; default: a running one, else a local one)"),
        _PROGRESS,
    ]


def _refine_options() -> list[Option]:
    """``lrscape refine``'s own settings, with the defaults of :func:`lrscape.refine`."""
    signature = inspect.signature(_refine).parameters
    return [Option("coarse", int, "points per side of the first lattice",
                   signature["coarse"].default, "C"),
            Option("by", str, "the class whose boundary is refined", signature["by"].default,
                   choices=CLASSES),
            _PROGRESS]


def _output_options(command: str) -> list[Option]:
    if command == "sweep":
        out = Option("out", str, f"results store (default: {DEFAULT_OUT}); with --points, "
                     "where the returned Dataset is written, only when given", metavar="PATH")
    else:
        out = Option("out", str, "class image, a zarr store", DEFAULT_IMAGE, "PATH")
    figure = Option("plot", str, "figure path (default: the store's name with .png; '' for "
                    "none)", metavar="PATH")
    if command != "sweep":
        return [out, figure]
    return [out, figure, Option("paths", bool, "the figure's path panel: where its lettered "
                                "trajectories went over the loss (run again with every update "
                                "recorded, unless the sweep recorded its paths)", True)]


def _options(command: str) -> dict[str, list[Option]]:
    """The settings of ``lrscape sweep`` or ``lrscape refine``, by the group ``--help`` lists
    them in."""
    groups = {"what is simulated": [*_problem_options(), *_simulation_options()],
              "what is recorded (lrscape.observe.Observe)": _observe_options()}
    if command == "sweep":
        groups["how the sweep runs"] = _run_options()
    else:
        groups["refinement"] = _refine_options()
    groups["output"] = _output_options(command)
    return groups


def _all(command: str) -> list[Option]:
    return [option for group in _options(command).values() for option in group]


def _tables(command: str) -> tuple[str, ...]:
    return (*TABLES, "points") if command == "sweep" else TABLES


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


def _load_config(path: str | None, command: str) -> dict[str, Any]:
    """The TOML file's settings for ``command``: every key one of its options' or tables',
    every option's value of its type."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        raise SystemExit(f"lrscape: --config {path!r}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise SystemExit(f"lrscape: --config {path!r}: not valid TOML ({err})") from None
    by_key = {option.key: option for option in _all(command)}
    tables = _tables(command)
    known = {*by_key, *tables}
    if unknown := sorted(set(config) - known):
        hint = "".join(_hint(key, known, command) for key in unknown)
        raise SystemExit(f"lrscape: --config {path!r}: unknown keys {unknown}{hint}; "
                         f"known: {sorted(known)}")
    for key, value in config.items():
        if key in by_key and (problem := by_key[key].problem(value)):
            raise SystemExit(f"lrscape: --config {path!r}: `{key}` {problem}")
        if key in tables and key != "import" and not isinstance(value, dict):
            raise SystemExit(f"lrscape: --config {path!r}: `{key}` must be a table ([{key}]), "
                             f"got {value!r}")
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


def _hint(key: str, known: Collection[str], command: str) -> str:
    """What an unknown TOML key may be: the other command's setting, or a misspelt one."""
    other = "refine" if command == "sweep" else "sweep"
    if key in {option.key for option in _all(other)} | set(_tables(other)):
        return f" ({key!r}: a setting of `lrscape {other}` only)"
    close = difflib.get_close_matches(key, known, 1)
    return f" ({key!r}: did you mean {close[0]!r}?)" if close else ""


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
                if isinstance(err, Exception):  # the user's code: its error, file and line
                    raise ValueError(_failed_import(spec, err)) from err
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
            except Exception as err:  # the user's code: its error, file and line
                raise ValueError(_failed_import(spec, err)) from err
        modules.append(module)
    return modules


def _failed_import(spec: str, err: Exception) -> str:
    """One line for an error raised while importing the user's module: what it is, and the
    file and line where it was raised (for a syntax error, where the syntax is wrong)."""
    if isinstance(err, SyntaxError):
        where = f"{err.filename}, line {err.lineno}"
        return f"--import {spec!r}: {type(err).__name__}: {err.msg} ({where})"
    frames = traceback.extract_tb(err.__traceback__)
    last = frames[-1] if frames else None
    where = f" ({last.filename}, line {last.lineno})" if last else ""
    return f"--import {spec!r}: {type(err).__name__}: {err}{where}"


def _settings(args: argparse.Namespace, options: Sequence[Option]) -> dict[str, Any]:
    """The options' defaults, then the TOML file, then the command-line flags."""
    config = _load_config(args.config, args.command)
    points = {**config.get("points", {}), **_pairs(getattr(args, "points", None), "--points")}
    has_own_grid = bool(config.get("grid")) or args.lr is not None or args.axis
    settings = {option.key: option.default for option in options}
    settings.update(config)
    # an own grid, or a list of points, replaces the default grid
    settings["grid"] = dict(config.get("grid", {})) if has_own_grid or points else dict(
        DEFAULT_GRID)
    if points:
        settings["points"] = points
    for option in options:
        value = getattr(args, option.key)
        if value is not None:
            settings[option.key] = value
    settings["import"] = [*config.get("import", []), *(args.imports or [])]
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
    if args.lr is not None:  # also '': an empty axis, refused as such
        settings["grid"]["learning_rate"] = args.lr
    settings["grid"].update(_pairs(args.axis, "--axis"))
    return settings


def _vectors(get: Any, name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Fields as given, except that a vector field given one number takes it as a 1-vector.

    ``--set eigenvalues=1`` reads as the number 1 (a comma makes a list); the quadratic's
    ``eigenvalues`` is a sequence, so it becomes ``[1]``.
    """
    vector_fields = getattr(type(get(name)), "_array_fields", ())
    return {k: [v] if k in vector_fields and isinstance(v, int | float)
            and not isinstance(v, bool) else v for k, v in fields.items()}


def _experiment_kwargs(s: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :func:`lrscape.sweep` (and :func:`lrscape.refine`) that build
    the experiment, from the merged settings: the landscape, optimizer, schedule, thresholds,
    the grid or the points, every setting of the simulation and every field of ``Observe``."""
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
    kwargs = {"landscape": landscape, "optimizer": optimizer, "schedule": schedule,
              "thresholds": s.get("thresholds")}
    kwargs.update(_axes(s, optimizer))
    kwargs.update({option.key: s[option.key] for option in _simulation_options()})
    kwargs["observe"] = lrscape.Observe(**{option.key: s[option.key]
                                           for option in _observe_options()})
    return kwargs


def _axes(s: dict[str, Any], optimizer: Any) -> dict[str, dict[str, Any]]:
    """``{"grid": ...}`` or ``{"points": ...}``, each axis parsed."""
    import lrscape

    if s.get("points") and s["grid"]:
        raise ValueError(f"give a grid (--lr, --axis, [grid]: {list(s['grid'])}) or --points "
                         f"([points]: {list(s['points'])}), not both")
    kind = "points" if s.get("points") else "grid"
    axes = {k: lrscape.grid.parse_axis(v) if isinstance(v, str) else v
            for k, v in s[kind].items()}
    if (not any(k.split("@")[0] == "learning_rate" for k in axes)
            and optimizer.hyperparams.get("learning_rate", 0) is None):
        # an own grid replaces the default one, learning rates included
        add = "--points learning_rate=V1,V2,..." if kind == "points" else (
            "--lr START:STOP:NUM[:log]")
        raise ValueError(f"the {kind} {list(axes)} {'have' if kind == 'points' else 'has'} no "
                         f"learning rate: add {add}, or fix one with --opt learning_rate=VALUE "
                         f"(in a TOML file: learning_rate in [{kind}] or [optimizer_values])")
    return {kind: axes}


def _cmd_refine(args: argparse.Namespace) -> int:
    _use_all_cpu_cores()
    import lrscape

    s = _settings(args, _all("refine"))
    out = s["out"]
    try:
        _import_modules(s["import"])
        kwargs = _experiment_kwargs(s)
        grid = kwargs.pop("grid")
        if len(grid) != 2:
            raise ValueError(f"refine needs exactly two axes (--lr/--axis), got {list(grid)}")
        lrscape.store.check_image_path(out)
        image = lrscape.refine(axes=grid, **{k: s[k] for k in ("coarse", "by", "progress")},
                               **kwargs)
        lrscape.store.write_image(image, out)
    except (ValueError, ImportError) as err:
        print(f"lrscape refine: {err}", file=sys.stderr)
        return 2
    n = image[s["by"]].size
    print(f"wrote {out}: {n} pixels from {image.attrs['evaluated']} trajectories "
          f"({image.attrs['saving']:.1f}x fewer than the full grid)")
    plot_path = s.get("plot")
    if plot_path is None:
        plot_path = os.path.splitext(out.rstrip("/"))[0] + ".png"
    if plot_path:
        _save_figure(image, plot_path, None, None, {})
        print(f"wrote {plot_path}")
    return 0


def _run_kwargs(s: dict[str, Any], modules: list[ModuleType]) -> dict[str, Any]:
    """The keyword arguments of :func:`lrscape.sweep` that say how it runs."""
    import lrscape

    executor = s["executor"]
    if s["address"] is not None and executor != "ray":
        raise ValueError(f"--address {s['address']!r} needs --executor ray")
    if executor == "ray":
        # the workers get the imported modules' code with the job: they need not find them
        executor = lrscape.executors.RayExecutor(address=s["address"], by_value=modules)
    kwargs = {option.key: s[option.key] for option in _run_options() if option.key != "address"}
    return {**kwargs, "executor": executor}


def _cmd_sweep(args: argparse.Namespace) -> int:
    _use_all_cpu_cores()
    import lrscape

    s = _settings(args, _all("sweep"))
    points = bool(s.get("points"))
    out = s["out"] if points else s["out"] or DEFAULT_OUT
    try:
        modules = _import_modules(s["import"])
        kwargs = {**_experiment_kwargs(s), **_run_kwargs(s, modules)}
        if points:
            _check_points_output(out, s["plot"])
        else:
            # the records stay in the store: the figure reads those of the curves it draws
            kwargs.update(store=out, records=False)
        ds = lrscape.sweep(**kwargs)
        if points and out is not None:
            _write_points(ds, out)
    except (ValueError, ImportError) as err:
        print(f"lrscape sweep: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        left = "nothing is written" if points else _stored_so_far(out)
        print(f"lrscape sweep: interrupted; {left}", file=sys.stderr)
        return INTERRUPTED
    except OSError as err:  # the store's disk: full, gone, read-only ...
        left = "nothing is written" if points else _stored_so_far(out)
        print(f"lrscape sweep: {err}; {left}", file=sys.stderr)
        return 1
    if points:
        _print_points(ds, out)
        return 0
    counts = {r.name.lower(): int((ds["regime"] == r).sum())
              for r in lrscape.regimes.DISPLAY_ORDER}  # calm to wild, as the legend
    print(f"wrote {out}: {ds['regime'].size} trajectories x {s['steps']} steps; "
          + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    plot_path = s.get("plot")
    if plot_path is None:
        plot_path = os.path.splitext(os.fspath(out).rstrip("/"))[0] + ".png"
    if plot_path and ds["regime"].ndim >= 1:
        x, y, select, first = _slice_to_draw(ds, None, None, {})
        try:
            _save_figure(ds, plot_path, x, y, select, store=out, paths=s["paths"])
        except ValueError as err:  # the store is written; only the figure failed
            print(f"lrscape sweep: no figure: {err}", file=sys.stderr)
            return 2
        print(f"wrote {plot_path}{_which_slice(first, out)}")
    return 0


# -- a sweep over --points: no store (it has no grid to resume), a table and a Dataset ------


def _check_points_output(out: str | None, plot: str | None) -> None:
    """Refuse, before anything is computed, a figure (points are no grid to draw) and an
    ``out`` that holds anything but an earlier sweep over points."""
    from .store import _quiet, check_creatable

    if plot:
        raise ValueError(f"--plot {plot!r}: a sweep over --points draws no figure (its points "
                         "are not a grid); sweep a grid to draw one")
    if out is None:
        return
    if not os.path.exists(out):
        check_creatable(out)
        return
    import xarray as xr

    try:
        with _quiet():
            existing = xr.open_zarr(out)
    except Exception:  # not a zarr store at all
        existing = None
    if (existing is None or "point" not in existing.dims
            or "lrscape_version" not in existing.attrs):
        raise ValueError(f"--out {out!r} exists and is not a sweep over points; choose another "
                         "path or remove it")


def _write_points(ds: Any, out: str) -> None:
    """The Dataset of a sweep over points, as a zarr store (an earlier one there is replaced):
    ``xarray.open_zarr`` reads it."""
    from .store import _quiet

    with _quiet():
        ds.to_zarr(out, mode="w")


def _print_points(ds: Any, out: str | None) -> None:
    """One line per point (the first :data:`MAX_POINT_LINES`): its axes' values, regime,
    period, final loss and the observed scalars there are."""
    import lrscape

    axes = [name for name, coord in ds.coords.items() if coord.dims == ("point",)]
    columns = [*axes, "regime", "period", "final_loss",
               *(name for name in ("trainable", "trainability", "best_loss", "lyapunov")
                 if name in ds)]
    n = ds.sizes["point"]
    rows = [["point", *columns]]
    for i in range(min(n, MAX_POINT_LINES)):
        cells = [str(i)]
        for name in columns:
            value = ds[name].values[i]
            cells.append(lrscape.Regime(int(value)).name if name == "regime" else
                         f"{value:.6g}" if isinstance(value, np.floating) else str(value))
        rows.append(cells)
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    if n > MAX_POINT_LINES:
        print(f"... and {n - MAX_POINT_LINES} more points" + (f" (all in {out})" if out else
                                                              "; --out PATH writes them all"))
    if out is not None:
        print(f"wrote {out}: the Dataset of {n} points (read it with xarray.open_zarr)")


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
                 store: str | None = None, points: list[dict[str, float]] | None = None,
                 paths: bool = True, animate: str | None = None, frames: int = 60) -> None:
    """A sweep's summary figure, or a refined image's class image; ``store``: where the
    records of the trajectories drawn are read, when ``ds`` was read without them;
    ``points``: the trajectories drawn (default: one per regime); ``animate``: where their
    paths' animation goes."""
    plot = _plot()
    import matplotlib.pyplot as plt

    from .store import REFINED

    if REFINED not in ds.attrs:
        plot.summary_figure(ds, path, x=x, y=y, select=select or None, store=store,
                            points=points, paths=paths, animate=animate, frames=frames)
        return
    if points or animate:
        raise ValueError("--point and --animate do not apply to a refined image: it holds "
                         "classes, not trajectories")
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
        _import_modules(args.imports or [])
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
        points = _points(args.point, (x, y))
        _save_figure(ds, out, x, y, select, store=args.store, points=points, paths=args.paths,
                     animate=args.animate, frames=args.frames)
    except (ValueError, FileNotFoundError, ImportError) as err:
        print(f"lrscape plot: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out}{_which_slice(first, args.store)}")
    if args.animate:
        print(f"wrote {args.animate}")
    if "computed" in ds:
        print(f"{args.store} is incomplete: {float(ds['computed'].mean()):.0%} of its "
              "trajectories are computed (the rest is grey); rerun its sweep to finish it")
    return 0


def _points(specs: list[str] | None, drawn: tuple[str | None, ...]
            ) -> list[dict[str, float]] | None:
    """The trajectories ``--point AXIS=VALUE,AXIS=VALUE`` names, one per flag: a value on each
    axis drawn (the figure's others are at ``--select``'s values)."""
    if not specs:
        return None
    axes = [a for a in drawn if a]
    points = []
    for spec in specs:
        point: dict[str, float] = {}
        for item in spec.split(","):
            key, eq, value = item.partition("=")
            number = _number(value.strip())
            if not eq or not isinstance(number, int | float) or not np.isfinite(number):
                raise ValueError(f"--point expects AXIS=NUMBER,AXIS=NUMBER, got {spec!r}")
            if key.strip() in point:
                raise ValueError(f"--point {spec!r} gives {key.strip()} twice")
            point[key.strip()] = float(number)
        unknown = [k for k in point if k not in axes]
        if unknown:
            raise ValueError(f"--point {spec!r}: {', '.join(unknown)} is not an axis drawn; "
                             f"the axes are {', '.join(axes)}")
        if sorted(point) != sorted(axes):
            raise ValueError(f"--point {spec!r} must give a value on each axis drawn, "
                             f"{', '.join(axes)}, and only those (the others take --select's "
                             "values)")
        points.append(point)
    return points


def _cmd_verify(args: argparse.Namespace) -> int:
    from .store import verify

    try:
        report = verify(args.store)
    except (ValueError, FileNotFoundError) as err:
        print(f"lrscape verify: {err}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    return 0 if report.ok else 1


def _cmd_list(args: argparse.Namespace) -> int:
    return _cli_list.command(args, _import_modules)


def _table_flags(parser: Any, command: str) -> None:
    """The flags that fill the TOML tables: landscape fields, optimizer values, the schedule,
    the grid (or, for ``sweep``, a list of points) and the classifier's thresholds."""
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE",
                        help="a landscape field, e.g. --set wall_curvature=50 (repeatable; TOML: "
                        "[landscape_fields])")
    parser.add_argument("--opt", action="append", metavar="NAME=VALUE",
                        help="a fixed optimizer hyperparameter or option, e.g. --opt "
                        "momentum=0.5 (TOML: [optimizer_values])")
    parser.add_argument("--schedule", metavar="NAME",
                        help="schedule name (see `lrscape list`; TOML: name in [schedule])")
    parser.add_argument("--schedule-set", action="append", metavar="FIELD=VALUE",
                        help="a schedule field, e.g. --schedule-set decay_steps=500 (TOML: "
                        "[schedule])")
    grid = ", ".join(f"{k}={v}" for k, v in DEFAULT_GRID.items())
    parser.add_argument("--lr", metavar="SPEC",
                        help="learning-rate axis: START:STOP:NUM[:log|lin] or v1,v2,... (TOML: "
                        f"learning_rate in [grid]; default grid: {grid})")
    parser.add_argument("--axis", action="append", metavar="NAME=SPEC",
                        help="another grid axis, e.g. --axis momentum=0:0.99:64 (repeatable; "
                        "TOML: [grid]); an own grid replaces the default one")
    if command == "sweep":
        parser.add_argument(
            "--points", action="append", metavar="NAME=SPEC",
            help="instead of a grid, a list of points: every NAME's values (a SPEC as for "
            "--axis), all of one length; run i takes every NAME's i-th value, e.g. --points "
            "learning_rate=0.01,0.02 --points momentum=0.5,0.9 (repeatable; TOML: [points]). "
            "Such a sweep has no store and no figure: it prints a line per point and, with "
            "--out, writes the Dataset as a zarr store (read it with xarray.open_zarr)")
    parser.add_argument("--threshold", action="append", metavar="NAME=VALUE",
                        help="a threshold of the regime classifier, e.g. --threshold "
                        "max_period=32 (repeatable; TOML: [thresholds]; see lrscape.Thresholds)")


def _settings_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """Every setting of ``sweep`` or ``refine`` as a flag, by group."""
    parser.add_argument("--config", metavar="FILE",
                        help="a TOML file with the same settings, each flag's name with _ "
                        "for - (flags override it)")
    _import_flag(parser)
    groups = _options(command)
    keys = {option.key for options in groups.values() for option in options}
    for title, options in groups.items():
        group = parser.add_argument_group(title)
        for option in options:
            option.add_to(group, keys)
        if title == "what is simulated":
            _table_flags(parser.add_argument_group(
                "landscape, optimizer, schedule, grid and thresholds (TOML: a table each)"),
                command)


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
    _settings_flags(sw, "sweep")
    sw.set_defaults(func=_cmd_sweep)

    rf = sub.add_parser(
        "refine", help="the class image of two axes, simulated only where the class changes",
        description="Adaptive boundary refinement (lrscape.refine): a coarse lattice, then "
                    "only cells whose pixels disagree are subdivided. Each axis needs "
                    "(coarse - 1) * 2**L + 1 values, e.g. 1025 with --coarse 33.")
    _settings_flags(rf, "refine")
    rf.set_defaults(func=_cmd_refine)

    pl = sub.add_parser("plot", help="draw the phase diagram of a results store")
    pl.add_argument("store", help="a zarr store written by `lrscape sweep` (also part-way) or "
                    "`lrscape refine`")
    pl.add_argument("--x", help="grid axis across (default: learning_rate)")
    pl.add_argument("--y", help="grid axis up (default: the other one)")
    pl.add_argument("--select", action="append", metavar="AXIS=VALUE",
                    help="value of a further grid axis (repeatable; default: its first)")
    pl.add_argument("--point", action="append", metavar="AXIS=VALUE,AXIS=VALUE",
                    help="a trajectory to draw, with its loss and path (repeatable; default: "
                    "one of each regime), e.g. --point learning_rate=0.02,momentum=0.8; any "
                    "values, not only the grid's: the point is run again")
    pl.add_argument("--paths", action=argparse.BooleanOptionalAction, default=True,
                    help="the path panel: where the lettered trajectories went over the loss "
                    "(default: on)")
    pl.add_argument("--animate", metavar="PATH",
                    help="also write the paths moving step by step (.gif, or .mp4 with ffmpeg)")
    pl.add_argument("--frames", type=int, default=60, metavar="N",
                    help="frames of the --animate movie (default: 60)")
    pl.add_argument("--out", help="PNG path (default: the store's name with .png)")
    _import_flag(pl)
    pl.set_defaults(func=_cmd_plot)

    vf = sub.add_parser(
        "verify", help="check every chunk of a results store against its checksums",
        description="Decode every chunk of a store written by `lrscape sweep` and compare it "
                    "with the checksums and file sizes recorded when it was written; print each "
                    "damaged file (its variable, chunk and what is wrong). Exit status 1 when "
                    "something is damaged or the store has no checksums; rerunning the sweep "
                    "that wrote it recomputes exactly the damaged chunks.")
    vf.add_argument("store", help="a zarr store written by `lrscape sweep`")
    vf.set_defaults(func=_cmd_verify)

    add_twin_parser(sub)

    add_list_parser(sub, _import_flag, _cmd_list)
    return parser


_SHOWN: set[str] = set()


def _show_warning(message: Warning | str, *args: Any, **kwargs: Any) -> None:
    """A warning on one line, each text once (a store read twice, for the phase diagram and
    for the curves, is warned of once)."""
    if str(message) not in _SHOWN:
        _SHOWN.add(str(message))
        print(f"lrscape: warning: {message}", file=sys.stderr)


def _open_compilation_cache() -> None:
    """JAX's persistent compilation cache (:mod:`lrscape.cache`), unless
    ``LRSCAPE_COMPILE_CACHE=0``; a folder that cannot be made is warned of, not fatal."""
    if not cache.cache_wanted():
        return
    try:
        cache.use_compilation_cache()
    except ValueError as error:
        print(f"lrscape: warning: {error}; compiling without the cache", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _open_compilation_cache()
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
    except SystemExit as exit_:  # a one-line error about the settings (a TOML file, a flag)
        if not isinstance(exit_.code, str):
            raise
        print(exit_.code, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
