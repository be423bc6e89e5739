"""``lrscape list [WHAT | NAME]``: the registries, or one entry's formula, fields and defaults.

``lrscape list`` prints every landscape, optimizer and schedule with its first docstring line;
``lrscape list landscapes`` (``optimizers``, ``schedules``) one registry; ``lrscape list NAME``
one entry in full: its docstring (the formula included, as the LaTeX the API reference
renders), then each field with its default and what kind of field it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import inspect
import re
import sys
from typing import Any

CATEGORIES = ("landscapes", "optimizers", "schedules")
_KINDS_LEGEND = ("  (sweepable: a number that can be a grid axis; shape: fixes array shapes or "
                 "control flow, one value per compile; array: a fixed array, not a grid axis)")


def add_list_parser(sub: Any, import_flag: Any, run: Any) -> None:
    """Register ``lrscape list`` on the command line's subparsers; ``run(args)`` runs it."""
    parser = sub.add_parser(
        "list", help="list landscapes, optimizers and schedules, or describe one",
        description="Without an argument, list every landscape, optimizer and schedule. With "
                    "a category (landscapes, optimizers, schedules), list that one. With a "
                    "name (e.g. narrow-valley, momentum, step-decay), print its formula, its "
                    "fields with their defaults and which of them can be grid axes.")
    parser.add_argument("what", nargs="?", metavar="WHAT|NAME",
                        help="a category or a registered name (default: list everything)")
    import_flag(parser)
    parser.set_defaults(func=run)


def command(args: argparse.Namespace, import_modules: Any) -> int:
    """Run ``lrscape list``; 2 for an unknown name (with the closest names)."""
    try:
        import_modules(args.imports or [])
    except ValueError as err:
        print(f"lrscape list: {err}", file=sys.stderr)
        return 2
    what = args.what
    if what is None or what in CATEGORIES:
        for category in CATEGORIES if what is None else (what,):
            print("\n".join(_category_lines(category)))
        return 0
    registry = _registry_of(what)
    if registry is None:
        print(f"lrscape list: {what!r} is neither a category ({', '.join(CATEGORIES)}) nor a "
              f"registered name{_closest(what)}", file=sys.stderr)
        return 2
    print("\n".join(_DESCRIBE[registry](what)))
    return 0


def _modules() -> dict[str, Any]:
    import lrscape

    return {"landscapes": lrscape.landscapes, "optimizers": lrscape.optimizers,
            "schedules": lrscape.schedules}


def _registry_of(name: str) -> str | None:
    for category, module in _modules().items():
        if name in module.available():
            return category
    return None


def _closest(name: str) -> str:
    names = [n for module in _modules().values() for n in module.available()]
    close = difflib.get_close_matches(name, [*CATEGORIES, *names], n=3)
    return f"; did you mean {' or '.join(close)}?" if close else "; see `lrscape list`"


def _category_lines(category: str) -> list[str]:
    module = _modules()[category]
    getter = "**values" if category == "optimizers" else "**fields"
    lines = [f"{category} (lrscape.{category}.get(name, {getter})):"]
    for name in module.available():
        if category == "optimizers":
            lines.append(f"  {name:<20} {_hyperparameters(module.get(name))}")
            continue
        cls = type(module.get(name))
        lines.append(f"  {name:<20} {summary(cls)}")
        if category == "landscapes":
            lines.append(f"  {'':<20} sweepable: {', '.join(cls.sweepable_fields())}")
    if category != "optimizers":
        lines.append(f"  (lrscape list NAME: one {category[:-1]}'s formula and fields)")
    return lines


def _hyperparameters(optimizer: Any) -> str:
    return ", ".join(f"{k}={'required' if v is None else v}"
                     for k, v in optimizer.hyperparams.items())


def summary(obj: Any) -> str:
    """The first line of ``obj``'s docstring, as plain text for a terminal."""
    lines = (inspect.getdoc(obj) or "").splitlines()
    return plain(lines[0]) if lines else ""


def plain(text: str) -> str:
    """reST for a terminal: ``:math:`H/B``` becomes ``H/B``, ````x```` becomes ```x```,
    ``\\le`` becomes ``<=``."""
    text = re.sub(r":[\w:]+:`~?([^`]*)`", r"\1", text)
    text = re.sub(r"``([^`]*)``", r"`\1`", text)
    return re.sub(r"\\([lg])e(?![A-Za-z])", lambda m: "<=" if m.group(1) == "l" else ">=", text)


def _split_fields(doc: str) -> tuple[str, dict[str, str]]:
    """A docstring without its ``Fields:`` section, and that section as name -> description."""
    lines = doc.splitlines()
    if "Fields:" not in lines:
        return doc, {}
    start = lines.index("Fields:")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i] and not lines[i].startswith(" ")), len(lines))
    fields: dict[str, str] = {}
    name = None
    for line in lines[start + 1:end]:
        match = re.match(r"    (\w+): (.*)", line)
        if match:
            name = match.group(1)
            fields[name] = match.group(2)
        elif name is not None and line.strip():
            fields[name] += " " + line.strip()
    return "\n".join(lines[:start] + lines[end:]).rstrip(), fields


def _landscape(name: str) -> list[str]:
    import lrscape

    cls = type(lrscape.landscapes.get(name))
    body, described = _split_fields(inspect.getdoc(cls) or "")
    lines = [f"{name}  (lrscape.landscapes.{cls.__name__})", "", plain(body), "", "fields:"]
    for field in dataclasses.fields(cls):
        if field.metadata.get("derived"):
            continue
        kind = ("shape" if field.metadata.get("static")
                else "array" if field.name in cls._array_fields else "sweepable")
        lines += _field_lines(field.name, _default(field), kind, described.get(field.name, ""))
    return [*lines, _KINDS_LEGEND]


def _default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return "required"


def _field_lines(name: str, default: Any, kind: str, description: str) -> list[str]:
    lines = [f"  {name} = {default!r}   [{kind}]"]
    if description:
        lines.append(f"      {plain(description)}")
    return lines


def _optimizer(name: str) -> list[str]:
    import lrscape

    optimizer = lrscape.optimizers.get(name)
    factory = getattr(optimizer.factory, "__name__", "")
    source = "" if factory.startswith("_") else f"; optax.{factory}"
    lines = [f"{name}  (lrscape.optimizers.get({name!r}){source})", ""]
    doc = inspect.getdoc(optimizer.factory) or ""
    lines += [plain(doc.split("\n\n")[0]), "", "hyperparameters (every one can be a grid axis):"]
    for key, value in optimizer.hyperparams.items():
        domain = optimizer.domains.get(key)
        where = f"   in {domain}" if domain is not None else ""
        lines.append(f"  {key} = {'required' if value is None else value!r}{where}")
    if optimizer.edges is not None:
        lines += ["", f"closed-form edges on a quadratic of curvature λ ({optimizer.edges.name}):"]
        for edge in (optimizer.edges.diverges, optimizer.edges.bounces,
                     optimizer.edges.noisy_bounces, optimizer.edges.rings):
            if edge is not None:
                lines.append(f"  ηλ = {edge.formula}: {edge.what}")
    return lines


def _schedule(name: str) -> list[str]:
    import lrscape

    cls = type(lrscape.schedules.get(name))
    lines = [f"{name}  (lrscape.schedules.{cls.__name__}; it multiplies the learning rate)", "",
             plain(inspect.getdoc(cls) or ""), "", "fields:"]
    for field in dataclasses.fields(cls):
        kind = "shape" if field.metadata.get("static") else "sweepable"
        lines += _field_lines(field.name, _default(field), kind, "")
    return [*lines, _KINDS_LEGEND]


_DESCRIBE = {"landscapes": _landscape, "optimizers": _optimizer, "schedules": _schedule}
