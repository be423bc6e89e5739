"""Results stores: a sweep streamed to zarr chunk by chunk, resumable, readable by xarray.

A store holds the sweep's variables *flat*: every per-trajectory variable has the dimension
``trajectory`` (the grid in C order: the last axis varies fastest) followed by its own
(``step``, ``epoch``, ...), and the grid's axes are stored as coordinates of their own.
:func:`open` reshapes it back into the Dataset :func:`lrscape.sweep` returned; plain
``xarray.open_zarr`` reads it as is. Flat storage lets every chunk of a sweep be one contiguous
region, whatever the grid's shape, so chunks are written as they finish.

Resuming: the store's attributes hold the sweep's full configuration (landscape, optimizer,
schedule, grid, steps, seeds, thresholds, dtype, lrscape and jax versions) and its chunk size;
a variable ``chunk_done`` (one zarr chunk per sweep chunk, written after the chunk's data) marks
the finished chunks. Rerunning the same sweep into the store computes only the unfinished
chunks; a sweep killed at any moment (SIGKILL included) loses only the chunks in flight, and
since each chunk is a pure function of the configuration, the rerun ends with exactly the
numbers of an uninterrupted run. The store itself is created whole or not at all (under a
temporary name, renamed into place), and Ctrl-C lets the write in flight finish. A different
configuration is refused with the keys that differ, and so is a store written by another
lrscape or jax version: their numbers may differ, and a resumed store would mix them
(:func:`open` still reads it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import xarray as xr
import zarr

from ._version import code_versions, describe
from .experiment import CONFIG_KEYS
from .grid import to_grid
from .observe import RECORD_DIMS
from .plan import machine_ram
from .regimes import NOT_COMPUTED

TRAJECTORY = "trajectory"
REFINED = "refined_by"  # the attribute that marks a class image from lrscape.refine
DONE = "chunk_done"
# What zarr's local store writes before renaming into place (``<name>.<uuid4 hex>.partial``): a
# process killed mid-write leaves it behind.
_PARTIAL_SUFFIX = r"\.[0-9a-f]{32}\.partial"
_PARTIAL_WRITE = re.compile(_PARTIAL_SUFFIX + "$")


def configuration(attrs: dict[str, Any], coords: dict[str, Any]) -> dict[str, Any]:
    """What defines a sweep: its configuration attributes and its grid's coordinates."""
    config = {k: attrs.get(k) for k in CONFIG_KEYS}
    config["coords"] = {name: np.asarray(values).tolist() for name, values in coords.items()}
    return config


def _grid_coords(ds: xr.Dataset) -> dict[str, Any]:
    axes = json.loads(ds.attrs.get("grid_axes", "[]"))
    return {name: ds[name].values for name, _ in axes}


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # zarr 3 notes that consolidated metadata is not in its spec; xarray reads it fastest.
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        # A store a killed sweep left holds zarr's temporary files of the writes it cut short
        # (removed when the sweep resumes); zarr notes them whenever it lists the hierarchy.
        warnings.filterwarnings("ignore", category=UserWarning,
                                message=f"Object at .*{_PARTIAL_SUFFIX} is not recognized")
        yield


def to_flat(ds: xr.Dataset) -> xr.Dataset:
    """A grid Dataset with its grid axes flattened into one ``trajectory`` dimension."""
    axes = [name for name, _ in json.loads(ds.attrs.get("grid_axes", "[]"))]
    shape = tuple(ds.sizes[a] for a in axes)
    total = int(np.prod(shape)) if axes else 1
    out = xr.Dataset(attrs=dict(ds.attrs))
    for name, var in ds.data_vars.items():
        rest = tuple(d for d in var.dims if d not in axes)
        values = var.transpose(*axes, *rest).values.reshape((total,) + var.shape[len(axes):])
        out[name] = ((TRAJECTORY,) + rest, values, dict(var.attrs))
    for name, coord in ds.coords.items():
        out.coords[name] = coord.variable.copy()
    return out


def from_flat(flat: xr.Dataset) -> xr.Dataset:
    """The inverse of :func:`to_flat`: the grid Dataset a sweep returns."""
    axes = [name for name, _ in json.loads(flat.attrs.get("grid_axes", "[]"))]
    shape = tuple(flat.sizes[a] for a in axes)
    data = to_grid({name: (var.dims[1:], var.values, dict(var.attrs))
                    for name, var in flat.data_vars.items()
                    if TRAJECTORY in var.dims and name != DONE}, tuple(axes), shape)
    coords = {name: coord.variable for name, coord in flat.coords.items()
              if TRAJECTORY not in coord.dims}
    attrs = {k: v for k, v in flat.attrs.items() if k != "chunk_size"}
    return xr.Dataset(data, coords=coords, attrs=attrs)


class ChunkStore:
    """A sweep's store, opened for writing chunk by chunk.

    ``create_or_resume`` either creates the store from a template (the sweep's Dataset before
    any chunk has run) or checks that the existing store holds the same sweep and returns the
    chunk size it was written with and which chunks are done.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)

    def create_or_resume(
        self, template: xr.Dataset, chunk: int, n_chunks: int
    ) -> tuple[int, np.ndarray]:
        """Returns ``(chunk_size, done)``: the store's chunk size and a bool per chunk."""
        if os.path.exists(self.path):
            existing = self._open_existing()
            old = configuration(existing.attrs, _grid_coords(existing))
            new = configuration(template.attrs, _grid_coords(template))
            if old != new:
                differing = sorted(k for k in new if old.get(k) != new.get(k))
                raise ValueError(
                    f"store {self.path!r} holds a different sweep (differs in: "
                    f"{', '.join(differing)}); write to another path or remove it first")
            _check_same_code(self.path, existing.attrs, template.attrs)
            _remove_partial_writes(self.path)  # only in a store this sweep is about to resume
            return int(existing.attrs["chunk_size"]), existing[DONE].values.astype(bool)
        try:
            self._create(template, chunk, n_chunks)
        except FileExistsError:  # another sweep created it meanwhile: resume it, or refuse
            return self.create_or_resume(template, chunk, n_chunks)
        return chunk, np.zeros(n_chunks, bool)

    def _create(self, template: xr.Dataset, chunk: int, n_chunks: int) -> None:
        """Create the store: metadata only, under a temporary name renamed into place.

        Nothing is written before a chunk is done: the variables are created empty and then
        given their length, and a chunk never written reads as its array's fill value (NaN
        for floats, 0 otherwise). The rename makes creation all or nothing: a sweep stopped
        while creating leaves no store that looks like one to resume.
        """
        flat = to_flat(template)
        flat.attrs["chunk_size"] = chunk
        flat[DONE] = (("chunk",), np.zeros(n_chunks, np.int8),
                      {"long_name": "1 once the sweep chunk's results are written"})
        lengths = {name: var.shape for name, var in flat.data_vars.items()
                   if TRAJECTORY in var.dims}
        encoding: dict[str, Any] = {name: {"chunks": (chunk,) + shape[1:]}
                                    for name, shape in lengths.items()}
        encoding[DONE] = {"chunks": (1,)}
        creating = f"{self.path.rstrip(os.sep)}.creating-{uuid.uuid4().hex[:8]}"
        try:
            with _quiet():
                try:
                    flat.isel({TRAJECTORY: slice(0, 0)}).to_zarr(creating, mode="w-",
                                                                   encoding=encoding)
                except OSError as err:  # named by the store's path, not the temporary one
                    raise OSError(err.errno, f"cannot create the store {self.path!r}: "
                                  f"{err.strerror}") from None
                group = zarr.open_group(creating, mode="r+")
                for name, shape in lengths.items():
                    group[name].resize(shape)
                zarr.consolidate_metadata(creating)
            try:
                os.rename(creating, self.path)
            except OSError:
                if os.path.exists(self.path):
                    raise FileExistsError(self.path) from None
                raise
        finally:
            shutil.rmtree(creating, ignore_errors=True)

    def _open_existing(self) -> xr.Dataset:
        try:
            with _quiet():
                existing = xr.open_zarr(self.path)
        except Exception as err:  # not a zarr store at all
            raise ValueError(
                f"store {self.path!r} exists and is not an lrscape results store ({err}); "
                "choose another path or remove it") from None
        if "lrscape_version" not in existing.attrs:
            raise ValueError(f"store {self.path!r} exists and was not written by lrscape; "
                             "choose another path or remove it")
        if REFINED in existing.attrs:
            raise ValueError(f"store {self.path!r} holds a refined image, not a sweep; choose "
                             "another path or remove it")
        if DONE not in existing or "chunk_size" not in existing.attrs:
            raise ValueError(f"store {self.path!r} was written by an lrscape without resumable "
                             "stores; choose another path or remove it")
        return existing

    def read(self, start: int, stop: int, names: Sequence[str] | None = None
             ) -> dict[str, np.ndarray]:
        """The stored values of trajectories ``start:stop``, per variable (those ``names``)."""
        with _quiet():
            flat = xr.open_zarr(self.path)
        region = flat.isel({TRAJECTORY: slice(start, stop)})
        return {name: var.values for name, var in region.data_vars.items()
                if TRAJECTORY in var.dims and (names is None or name in names)}

    def write(self, index: int, start: int, values: Mapping[str, np.ndarray]) -> None:
        """Write chunk ``index`` (its variables' values, trajectories from ``start``), then
        mark it done."""
        from zarr.api.asynchronous import open_group

        stop = start + len(next(iter(values.values())))

        async def write_all() -> None:
            group = await open_group(store=self.path, mode="r+", use_consolidated=True)
            arrays = await asyncio.gather(*(group.getitem(name) for name in values))
            await asyncio.gather(*(array.setitem(slice(start, stop), value)
                                   for array, value in zip(arrays, values.values(),
                                                           strict=True)))
            done = await group.getitem(DONE)  # only once every variable is written
            await done.setitem(slice(index, index + 1), np.ones(1, np.int8))

        # Straight into the zarr arrays the store was created with (a store chunk per sweep
        # chunk, stored as computed: no encoding to apply), all variables at once: through
        # xarray, one after the other, writing a chunk of the 2-D valley took twice as long
        # as computing it.
        with _quiet():
            _run_to_the_end(write_all())


def _run_to_the_end(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run ``coroutine`` on an event loop of a thread of its own; on Ctrl-C, let it finish.

    A thread of its own, since a notebook's thread already runs an event loop. Finishing the
    write in flight (a fraction of a second) before the KeyboardInterrupt goes on leaves the
    store clean: no temporary files of writes cut short, and the chunk stored.
    """
    pool = ThreadPoolExecutor(1, thread_name_prefix="lrscape-store")
    try:
        future = pool.submit(asyncio.run, coroutine)
        try:
            future.result()
        except KeyboardInterrupt:
            future.result()  # a second Ctrl-C stops waiting
            raise
    finally:
        pool.shutdown(wait=False)


def check_creatable(path: str | os.PathLike[str]) -> None:
    """Refuse a store path that cannot be created (checked before anything compiles).

    Missing folders on the way are created with the store; the nearest one that exists must be
    a folder this process may write in.
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path):
        return  # a store to resume, checked when it is opened
    parent = os.path.dirname(path)
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ValueError(f"`store` {path!r} cannot be created: {parent!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"`store` {path!r} cannot be created: no permission to write in "
                         f"{parent!r}")


def chunks_done(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(done, total)``: how many of a store's chunks are written."""
    with _quiet():
        done = xr.open_zarr(os.fspath(path))[DONE].values
    return int(np.count_nonzero(done)), len(done)


def _remove_partial_writes(path: str) -> None:
    """Delete the temporary files of writes a killed sweep left unfinished.

    Their chunks are not marked done, so they are computed again; the files would otherwise
    stay in the store, and zarr warns about them whenever it lists the hierarchy.
    """
    for root, _, files in os.walk(path):
        for name in files:
            if _PARTIAL_WRITE.search(name):
                os.remove(os.path.join(root, name))


def _check_same_code(path: str, stored: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume (or return) a store whose numbers another version computed."""
    keys = code_versions().keys()
    old, new = ({k: attrs.get(k) for k in keys} for attrs in (stored, current))
    if old != new:
        raise ValueError(
            f"store {path!r} was written by {describe(old)}, and this is {describe(new)}, "
            "whose numbers may differ; read it with lrscape.open, or write to another path "
            "(or remove it) to compute the sweep again")


def write_image(image: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Write a class image from :func:`lrscape.refine` as a zarr store, as the grid it is.

    An earlier image at ``path`` is replaced; anything else there is refused, a sweep's store
    above all. :func:`open` reads it back.
    """
    check_image_path(path)
    with _quiet():
        image.to_zarr(os.fspath(path), mode="w")


def check_image_path(path: str | os.PathLike[str]) -> None:
    """Refuse a path :func:`write_image` would not write to (before any refining is done)."""
    path = os.fspath(path)
    if os.path.exists(path):
        try:
            with _quiet():
                attrs = xr.open_zarr(path).attrs
        except Exception:  # not a zarr store at all
            attrs = {}
        if REFINED not in attrs:
            raise ValueError(f"{path!r} exists and is not a refined image; choose another path "
                             "or remove it")


def open(  # noqa: A001 - mirrors xarray.open_*
    path: str | os.PathLike[str],
    *,
    records: bool = True,
    isel: Mapping[str, Sequence[int] | slice] | None = None,
) -> xr.Dataset:
    """Read a results store back as the Dataset :func:`lrscape.sweep` returned (or the image
    :func:`lrscape.refine` returned, from :func:`write_image`).

    Args:
        path: the store.
        records: ``False`` reads only what each trajectory has once (``regime``, the losses,
            ...), not its records over steps, epochs or curvature measurements: enough for a
            phase diagram of a store larger than memory.
        isel: integer positions along grid axes, as xarray's ``isel`` takes them (a list or a
            slice per axis, e.g. ``{"learning_rate": [0, 100], "momentum": slice(0, None,
            8)}``): only the trajectories of that sub-grid are read.

    A store whose sweep was stopped before every chunk was written reads with
    ``attrs["complete"] = 0`` and a boolean variable ``computed`` over the grid; the
    trajectories not computed have ``regime`` = :data:`~lrscape.regimes.NOT_COMPUTED` (-1,
    listed in its ``flag_values``), NaN in every float variable and 0 in the other integers.
    Rerun the sweep with the same store to compute them.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results store at {path!r}")
    try:
        with _quiet():
            flat = xr.open_zarr(path)  # lazily: nothing read yet
    except Exception as err:  # not a zarr store at all
        raise ValueError(f"{path!r} is not an lrscape results store ({err})") from None
    if REFINED in flat.attrs:  # an image is stored as the grid it is, and has no records
        return _load(flat.isel(_positions(flat, list(flat.dims), isel or {})), path)
    if "lrscape_version" not in flat.attrs or TRAJECTORY not in flat.dims:
        raise ValueError(f"{path!r} is not an lrscape results store")
    axes = [name for name, _ in json.loads(flat.attrs.get("grid_axes", "[]"))]
    positions = _positions(flat, axes, isel or {})
    if not records:
        flat = flat.drop_vars([name for name, var in flat.variables.items()
                               if RECORD_DIMS & set(var.dims)])
    trajectories = None
    if isel:
        shape = tuple(flat.sizes[a] for a in axes)
        grid = np.meshgrid(*(np.arange(n)[positions.get(a, slice(None))]
                             for a, n in zip(axes, shape, strict=True)), indexing="ij")
        trajectories = np.ravel_multi_index(grid, shape).ravel()  # C order, as stored
        flat = flat.isel({TRAJECTORY: trajectories, **positions})
    flat = _load(flat, path)
    ds = from_flat(flat)
    if DONE in flat and not flat[DONE].values.all():
        computed = np.repeat(flat[DONE].values.astype(bool), int(flat.attrs["chunk_size"]))
        read = slice(ds["regime"].size) if trajectories is None else trajectories
        _mark_not_computed(ds, computed[read].reshape(ds["regime"].shape))
    return ds


def _positions(flat: xr.Dataset, axes: list[str],
               isel: Mapping[str, Sequence[int] | slice]) -> dict[str, Any]:
    """``isel`` checked against the grid: a slice or a 1-D list of positions per axis."""
    positions: dict[str, Any] = {}
    for axis, where in isel.items():
        if axis not in axes:
            raise ValueError(f"`isel` names {axis!r}, which is not a grid axis; grid axes: "
                             f"{axes}")
        if isinstance(where, slice):
            positions[axis] = where
            continue
        index = np.asarray(where)
        n = flat.sizes[axis]
        if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer) or (
                index.size and (index.min() < -n or index.max() >= n)):
            raise ValueError(f"`isel[{axis!r}]` must be a slice or a list of positions in "
                             f"[-{n}, {n}), got {where!r}")
        positions[axis] = index % n
    return positions


def _load(flat: xr.Dataset, path: str) -> xr.Dataset:
    """Read what ``flat`` selects, unless it cannot fit in the machine's memory."""
    ram = machine_ram()
    if ram is not None and flat.nbytes > ram:
        raise ValueError(
            f"{path!r} holds {flat.nbytes / 1e9:.1f} GB here, more than this machine's "
            f"{ram / 1e9:.1f} GB of RAM: read what each trajectory has once "
            "(`records=False`), a sub-grid (`isel`), or the flat layout lazily with "
            "xarray.open_zarr")
    with _quiet():
        return flat.load()


def _mark_not_computed(ds: xr.Dataset, computed: np.ndarray) -> None:
    dims = ds["regime"].dims
    regime = np.where(computed, ds["regime"].values, NOT_COMPUTED).astype(np.int8)
    attrs = dict(ds["regime"].attrs)
    if "flag_values" in attrs:
        attrs["flag_values"] = np.concatenate([[NOT_COMPUTED], attrs["flag_values"]]
                                              ).astype(np.int8)
        attrs["flag_meanings"] = f"not_computed {attrs['flag_meanings']}"
    ds["regime"] = (dims, regime, attrs)
    ds["computed"] = (dims, computed, {
        "long_name": "whether the trajectory was computed (the store is incomplete: rerun "
                     "its sweep to compute the others)"})
    ds.attrs["complete"] = 0
