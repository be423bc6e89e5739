"""Results stores: a sweep's Dataset as a zarr store, readable with ``xarray.open_zarr``.

A store remembers the configuration that made it (landscape, optimizer, schedule, grid, steps,
seeds, thresholds, dtype, versions) in its attributes. Writing a sweep into a path that holds a
store of a *different* configuration is refused, so results are never silently mixed or lost;
the same configuration overwrites it (a re-run).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import numpy as np
import xarray as xr

# Attributes that define a sweep: two stores agreeing on these hold the same experiment.
CONFIG_KEYS = (
    "landscape", "landscape_config", "optimizer", "optimizer_config", "schedule",
    "schedule_config", "grid_axes", "steps", "record_every", "seed", "x0", "thresholds", "dtype",
    "curvature_every", "curvature_iters", "curvature_k", "lyapunov",
)


def configuration(ds: xr.Dataset) -> dict[str, Any]:
    """The attributes of ``ds`` that define its sweep, plus its grid coordinates."""
    config = {k: ds.attrs.get(k) for k in CONFIG_KEYS}
    axes = json.loads(ds.attrs.get("grid_axes", "[]"))
    config["coords"] = {name: np.asarray(ds[name].values).tolist() for name, _ in axes}
    return config


def write(ds: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write ``ds`` to a zarr store at ``path``; refuse to replace a different sweep."""
    path = os.fspath(path)
    if os.path.exists(path):
        try:
            existing = xr.open_zarr(path)
        except Exception as err:  # not a zarr store at all
            raise ValueError(
                f"store {path!r} exists and is not an lrscape results store ({err}); "
                "choose another path or remove it"
            ) from None
        if "lrscape_version" not in existing.attrs:
            raise ValueError(f"store {path!r} exists and was not written by lrscape; "
                             "choose another path or remove it")
        old, new = configuration(existing), configuration(ds)
        if old != new:
            differing = sorted(k for k in new if old.get(k) != new.get(k))
            raise ValueError(
                f"store {path!r} holds a different sweep (differs in: {', '.join(differing)}); "
                "write to another path or remove it first"
            )
    with warnings.catch_warnings():
        # zarr 3 notes that consolidated metadata is not in its spec; xarray reads it fastest.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        ds.to_zarr(path, mode="w")


def open(path: str | os.PathLike[str]) -> xr.Dataset:  # noqa: A001 - mirrors xarray.open_*
    """Read a results store back as the Dataset :func:`lrscape.sweep` returned."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results store at {path!r}")
    return xr.open_zarr(path).load()
