"""The code that computes a sweep: lrscape's and jax's versions, recorded in every result."""

from __future__ import annotations

import importlib.metadata

import jax

try:
    VERSION = importlib.metadata.version("lrscape")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0+unknown"


def code_versions() -> dict[str, str]:
    """``{"lrscape_version": ..., "jax_version": ...}`` of this process."""
    return {"lrscape_version": VERSION, "jax_version": jax.__version__}


def describe(versions: dict[str, str | None]) -> str:
    """``"lrscape 0.3.0 with jax 0.10.2"``, from a :func:`code_versions`-shaped mapping."""
    return f"lrscape {versions.get('lrscape_version')} with jax {versions.get('jax_version')}"
