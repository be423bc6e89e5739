"""Results stores: a sweep streamed to zarr chunk by chunk, resumable, checksummed, readable by
xarray.

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

Integrity: with its data, each chunk records a checksum of every variable's values as computed
and the size of every file it wrote (``chunk_checksum``, ``chunk_nbytes``: see
:mod:`lrscape._integrity`), and every chunk file is written, also one equal to the fill value,
so a missing file is always damage. :func:`open` checks the files cheaply (present, of the
recorded size), the checksums of the chunks it reads whole, and never fails on a file it
cannot decode: a damaged chunk's trajectories read as not computed, with one
:class:`IntegrityWarning` naming the chunks and files. :func:`verify` (``lrscape verify``)
decodes every chunk and compares every checksum. A rerun of the sweep checks every stored
chunk the same way before it resumes, and recomputes exactly the damaged ones (lost metadata
documents and coordinates are rewritten), ending equal to an uninterrupted run. A store of
lrscape 0.3 has no checksums: it is read as before, with a warning that it cannot be checked.

Writers: several processes may write one store (two runs of the same sweep, a resumed one
beside a running one, Ray workers). Each chunk is claimed before it is computed
(:mod:`lrscape._claims`: advisory locks the kernel releases when a process dies), so two
processes share the chunks, each waits at the end for those the other holds, and a process
that resumes the store removes only the temporary files of writes no live process has in
flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
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
from zarr.storage import LocalStore

from . import _integrity as integ
from ._claims import Claims
from ._integrity import CHECKSUM, DONE, NBYTES, RECORDS, TRAJECTORY, Damage, Layout
from ._version import code_versions, describe
from .experiment import CONFIG_KEYS
from .grid import to_grid
from .observe import RECORD_DIMS
from .plan import machine_ram
from .regimes import NOT_COMPUTED

REFINED = "refined_by"  # the attribute that marks a class image from lrscape.refine
_PARTIAL_SUFFIX = integ.PARTIAL_SUFFIX
#: The most damaged files a warning or an error lists by name.
MAX_NAMED = 8
#: Bytes :func:`open` may decode again to check the checksums of the chunks a sub-grid touches
#: (and more when the sub-grid itself is a quarter of them or more).
CHECK_BUDGET = 256 << 20
__all__ = ["ChunkStore", "IntegrityWarning", "Report", "open", "verify", "write_image"]


class IntegrityWarning(UserWarning):
    """A store read with damaged chunks (their trajectories read as not computed), or one
    whose chunks cannot be checked (written without checksums)."""


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
                    if TRAJECTORY in var.dims and name not in RECORDS}, tuple(axes), shape)
    coords = {name: coord.variable for name, coord in flat.coords.items()
              if TRAJECTORY not in coord.dims}
    attrs = {k: v for k, v in flat.attrs.items() if k != "chunk_size"}
    return xr.Dataset(data, coords=coords, attrs=attrs)


class ChunkStore:
    """A sweep's store, opened for writing chunk by chunk.

    ``create_or_resume`` either creates the store from a template (the sweep's Dataset before
    any chunk has run) or checks that the existing store holds the same sweep, repairs what
    belongs to the whole store, and returns the chunk size it was written with and which
    chunks are marked done; :meth:`stored` checks a done chunk completely and returns its
    values. :meth:`claim` and :meth:`release` keep processes that write the store apart.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        self.claims = Claims(self.path)
        self._checked: tuple[Layout, integ.Records] | None = None
        #: what :meth:`stored` found damaged (those chunks are computed again)
        self.damage: list[Damage] = []
        self._partials: dict[int, list[str]] = {}  # of chunks another process held
        self.created = False  # by this object's create_or_resume
        self._opened: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "claims": Claims(self.path), "_checked": None, "damage": [],
                "_partials": {}, "created": False, "_opened": None}

    def create_or_resume(
        self, template: xr.Dataset, chunk: int, n_chunks: int
    ) -> tuple[int, np.ndarray]:
        """Returns ``(chunk_size, done)``: the store's chunk size and, per chunk, whether it
        is marked done (check those with :meth:`stored`)."""
        if os.path.exists(self.path):
            return self._resume(template)
        try:
            self._create(template, chunk, n_chunks)
        except FileExistsError:  # another sweep created it meanwhile: resume it, or refuse
            return self.create_or_resume(template, chunk, n_chunks)
        self.created = True
        return chunk, np.zeros(n_chunks, bool)

    def _resume(self, template: xr.Dataset) -> tuple[int, np.ndarray]:
        """Check that the store holds the template's sweep; under the store lock, rewrite
        lost metadata documents and coordinates, and remove the files of writes cut short."""
        with self.claims.store_lock():
            layout = check_resumable(self.path, template.attrs, _grid_coords(template))
            integ.repair_metadata(layout, integ.metadata_damage(layout))
            _repair_fixed(layout, template)
            self._remove_partial_writes(layout)
            with _quiet():
                records = integ.read_records(layout, integ.zarr_group(self.path))
        self._checked = (layout, records)
        return layout.chunk_size, records.done.copy()

    def _create(self, template: xr.Dataset, chunk: int, n_chunks: int) -> None:
        """Create the store: metadata and coordinates only, under a temporary name renamed
        into place.

        Nothing is written over trajectories before a chunk is done: the variables (and the
        chunk records) are created empty and then given their length. The coordinates are
        written whole, every file even where it equals the fill value, and their checksums
        recorded. The rename makes creation all or nothing: a sweep stopped while creating
        leaves no store that looks like one to resume.
        """
        flat = to_flat(template)
        flat.attrs["chunk_size"] = chunk
        names = [name for name, var in flat.data_vars.items() if TRAJECTORY in var.dims]
        lengths = {name: flat[name].shape for name in names}
        _add_records(flat, names)
        encoding: dict[str, Any] = {name: {"chunks": (chunk,) + shape[1:]}
                                    for name, shape in lengths.items()}
        encoding.update({name: {"chunks": (1,) + flat[name].shape[1:]} for name in RECORDS})
        creating = f"{self.path.rstrip(os.sep)}.creating-{uuid.uuid4().hex[:8]}"
        try:
            with _quiet():
                try:
                    flat.isel({TRAJECTORY: slice(0, 0), "chunk": slice(0, 0)}).to_zarr(
                        creating, mode="w-", encoding=encoding, write_empty_chunks=True)
                except OSError as err:  # named by the store's path, not the temporary one
                    raise OSError(err.errno, f"cannot create the store {self.path!r}: "
                                  f"{err.strerror}") from None
                # not through the consolidated metadata, which each resize makes stale
                group = zarr.open_group(creating, mode="r+", use_consolidated=False)
                group[CHECKSUM].attrs["fixed"] = {
                    name: f"{integ.digest(np.asarray(array[...])):016x}"
                    for name, array in group.arrays()
                    if name not in RECORDS and name not in lengths}
                for name, shape in lengths.items():
                    group[name].resize(shape)
                for name in RECORDS:
                    group[name].resize((n_chunks,) + group[name].shape[1:])
                zarr.consolidate_metadata(creating)
            try:
                os.rename(creating, self.path)
            except OSError:
                if os.path.exists(self.path):
                    raise FileExistsError(self.path) from None
                raise
        finally:
            shutil.rmtree(creating, ignore_errors=True)

    def _remove_partial_writes(self, layout: Layout) -> None:
        """Delete the temporary files of writes that processes killed mid-write left behind:
        those of no chunk (metadata, written under the store lock only), and those of chunks
        no live process has claimed (a claimed chunk's writer may have its write in flight;
        its files are removed when this process claims the chunk, see :meth:`claim`)."""
        self._partials = {}
        for file in integ.partial_writes(self.path):
            index = integ.chunk_of(layout, file)
            if index is not None:
                if not self.claims.claim(index):
                    self._partials.setdefault(index, []).append(file)
                    continue
                self.claims.release(index)
            _remove(os.path.join(self.path, file))

    # -- chunks ------------------------------------------------------------------------------

    def claim(self, index: int, *, wait: bool = False) -> bool:
        """Claim chunk ``index`` for this process (:class:`lrscape._claims.Claims`); once
        held, the temporary files a killed writer of the chunk left are removed."""
        if not self.claims.claim(index, wait=wait):
            return False
        for file in self._partials.pop(index, []):
            _remove(os.path.join(self.path, file))
        return True

    def release(self, index: int | None = None) -> None:
        """Give up the claim on chunk ``index`` (``None``: every claim, and the lock file)."""
        if index is None:
            self.claims.close()
        else:
            self.claims.release(index)

    def stored(self, index: int, names: Sequence[str] = ()) -> dict[str, np.ndarray] | None:
        """Chunk ``index`` as stored, checked completely (every file present, of its size,
        decodable, with the checksum written): the values of ``names``, or ``None`` when it
        is not done or is damaged (then its mark is taken back, so readers see it as not
        computed until it is written again)."""
        layout, records = self._state()
        with _quiet():
            group = self._group()
            if not records.done[index]:  # another process may have written it since
                integ.refresh(records, layout, group, index)
            if not records.done[index]:
                return None
            values, damage = integ.chunk_values(layout, records, group, index, keep=names)
        if not damage:
            return values
        self.damage += damage
        _unmark(self.path, index)
        records.done[index] = False
        return None

    def marked(self) -> np.ndarray:
        """Whether each chunk is marked done (as last read; :meth:`stored` checks one)."""
        return self._state()[1].done.copy()

    def _group(self) -> Any:
        """The store opened for reading, once (its consolidated metadata parsed once)."""
        if self._opened is None:
            self._opened = integ.zarr_group(self.path)
        return self._opened

    def _state(self) -> tuple[Layout, integ.Records]:
        """The store's layout and chunk records (read once, refreshed chunk by chunk)."""
        if self._checked is None:
            layout = Layout.read(self.path)
            with _quiet():
                self._checked = (layout, integ.read_records(layout, integ.zarr_group(self.path)))
        return self._checked

    def write(self, index: int, start: int, values: Mapping[str, np.ndarray]) -> None:
        """Write chunk ``index`` (its variables' values, trajectories from ``start``), then
        its record (a checksum of each variable's values and the size of each file
        written), then mark it done."""
        from zarr.api.asynchronous import open_group

        stop = start + len(next(iter(values.values())))

        async def write_all() -> None:
            # Every chunk file is written, also one equal to the fill value: a missing file
            # is then always damage.
            with zarr.config.set({"array.write_empty_chunks": True}):
                group = await open_group(store=self.path, mode="r+", use_consolidated=True)
                arrays = await asyncio.gather(*(group.getitem(name) for name in values))
                await asyncio.gather(*(array.setitem(slice(start, stop), value)
                                       for array, value in zip(arrays, values.values(),
                                                               strict=True)))
                records = await asyncio.gather(*(group.getitem(n) for n in (CHECKSUM, NBYTES)))
                rows = _record_rows(self.path, records[0].attrs["variables"], index,
                                    dict(zip(values, arrays, strict=True)), values)
                await asyncio.gather(*(array.setitem(slice(index, index + 1), row)
                                       for array, row in zip(records, rows, strict=True)))
                done = await group.getitem(DONE)  # only once everything is written
                await done.setitem(slice(index, index + 1), np.ones(1, np.int8))

        # Straight into the zarr arrays the store was created with (a store chunk per sweep
        # chunk, stored as computed: no encoding to apply), all variables at once: through
        # xarray, one after the other, writing a chunk of the 2-D valley took twice as long
        # as computing it.
        with _quiet():
            _run_to_the_end(write_all())


def _add_records(flat: xr.Dataset, names: list[str]) -> None:
    """Add the chunk records to a store's template (``names``: its variables over
    trajectories, the checksum columns)."""
    columns = ("chunk", "chunk_variable")
    flat[DONE] = (("chunk",), np.zeros(1, np.int8),
                  {"long_name": "1 once the sweep chunk's results and record are written",
                   "flag_values": np.array([0, 1], np.int8), "flag_meanings": "pending written"})
    flat[CHECKSUM] = (columns, np.zeros((1, len(names)), np.uint64), {
        "long_name": "checksum of each variable's values in the sweep chunk, as computed",
        "digest": integ.DIGEST, "variables": names})
    flat[NBYTES] = (columns, np.zeros((1, len(names)), np.uint64), {
        "long_name": "size in bytes of each variable's file of the sweep chunk, as written",
        "units": "byte", "variables": names})


def _record_rows(path: str, names: list[str], index: int, arrays: Mapping[str, Any],
                 values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ``index``'s checksum and file-size rows, its files written."""
    checksum = np.zeros((1, len(names)), np.uint64)
    nbytes = np.zeros((1, len(names)), np.uint64)
    for k, name in enumerate(names):
        array = arrays[name]
        checksum[0, k] = integ.digest(np.asarray(values[name], array.dtype))
        if 0 in array.shape[1:]:
            continue  # nothing per trajectory: no file
        key = array.metadata.encode_chunk_key((index,) + (0,) * (array.ndim - 1))
        nbytes[0, k] = os.stat(os.path.join(path, name, *key.split("/"))).st_size
    return checksum, nbytes


def _remove(file: str) -> None:
    try:
        os.remove(file)
    except FileNotFoundError:  # its write finished (renamed) meanwhile
        pass


def _unmark(path: str, index: int) -> None:
    """Take back chunk ``index``'s done mark (it is damaged, and is computed again)."""
    try:
        zarr.open_group(path, mode="r+", use_consolidated=True)[DONE][index] = 0
    except Exception:  # noqa: BLE001 - the mark's own file is the damage: rewritten with the chunk
        pass


def _repair_fixed(layout: Layout, template: xr.Dataset) -> None:
    """Rewrite the coordinates that are damaged from the template, whose checksums equal
    those recorded (:func:`check_resumable` made sure)."""
    with _quiet():
        damaged = integ.fixed_damage(layout, integ.zarr_group(layout.path))
    if not damaged:
        return
    flat = to_flat(template)
    with zarr.config.set({"array.write_empty_chunks": True}), _quiet():
        group = zarr.open_group(layout.path, mode="r+", use_consolidated=True)
        for name in damaged:
            group[name][...] = np.asarray(flat[name].values, layout.dtype(name))


def check_resumable(path: str, attrs: Mapping[str, Any], coords: Mapping[str, Any]) -> Layout:
    """Refuse to resume a store that does not hold the sweep of ``attrs`` (its configuration)
    over the grid ``coords``, or that another version wrote; return its layout.

    Needs nothing compiled: :func:`lrscape.sweep` calls it before anything is. A grid
    coordinate that is damaged in the store is compared by its recorded checksum.
    """
    layout = _existing_layout(path)
    axes = [name for name, _ in json.loads(layout.attrs.get("grid_axes", "[]"))]
    with _quiet():
        group = integ.zarr_group(path)
        damaged = integ.fixed_damage(layout, group)
        stored = {name: (f"checksum {layout.fixed.get(name, 0):016x}" if name in damaged
                         else np.asarray(group[name][...])) for name in axes}
    new = {name: (f"checksum {integ.digest(np.asarray(values, layout.dtype(name))):016x}"
                  if name in damaged else values) for name, values in coords.items()}
    old, new = configuration(layout.attrs, stored), configuration(dict(attrs), new)
    if old != new:
        differing = sorted(k for k in new if old.get(k) != new.get(k))
        raise ValueError(
            f"store {path!r} holds a different sweep (differs in: {', '.join(differing)}); "
            "write to another path or remove it first")
    _check_same_code(path, layout.attrs, attrs)
    return layout


def _existing_layout(path: str) -> Layout:
    """The layout of a store to resume, refused unless lrscape wrote it, resumable and
    checksummed."""
    try:
        layout = Layout.read(path)
    except ValueError as err:  # not a zarr store at all
        raise ValueError(f"store {path!r} exists and is not an lrscape results store ({err}); "
                         "choose another path or remove it") from None
    if "lrscape_version" not in layout.attrs:
        raise ValueError(f"store {path!r} exists and was not written by lrscape; "
                         "choose another path or remove it")
    if REFINED in layout.attrs:
        raise ValueError(f"store {path!r} holds a refined image, not a sweep; choose "
                         "another path or remove it")
    if DONE not in layout.arrays or "chunk_size" not in layout.attrs:
        raise ValueError(f"store {path!r} was written by an lrscape without resumable "
                         "stores; choose another path or remove it")
    if not layout.checksummed:
        raise ValueError(f"store {path!r} was written by an lrscape without checksums "
                         f"({describe(layout.attrs)}), whose chunks cannot be checked before "
                         "they are resumed; read it with lrscape.open, or write to another "
                         "path (or remove it) to compute the sweep again")
    return layout


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
    """``(done, total)``: how many of a store's chunks are marked written."""
    path = os.fspath(path)
    layout = Layout.read(path)
    with _quiet():
        records = integ.read_records(layout, integ.zarr_group(path))
    return int(np.count_nonzero(records.done)), layout.n_chunks


def _check_same_code(path: str, stored: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """Refuse to resume (or return) a store whose numbers another version computed."""
    keys = code_versions().keys()
    old, new = ({k: attrs.get(k) for k in keys} for attrs in (stored, current))
    if old != new:
        raise ValueError(
            f"store {path!r} was written by {describe(old)}, and this is {describe(new)}, "
            "whose numbers may differ; read it with lrscape.open, or write to another path "
            "(or remove it) to compute the sweep again")


# -- verify ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Report:
    """What :func:`verify` found.

    Attributes:
        path: the store.
        chunks: the sweep's chunks.
        done: the chunks marked written (damaged ones included).
        damage: every file found damaged (:class:`lrscape._integrity.Damage`: its variable,
            chunk, file and what is wrong).
        verifiable: ``False`` for a store without checksums (written by lrscape 0.3, or a
            refined image); ``reason`` says why.
    """

    path: str
    chunks: int
    done: int
    damage: tuple[Damage, ...] = ()
    verifiable: bool = True
    reason: str = ""

    @property
    def damaged_chunks(self) -> tuple[int, ...]:
        """The sweep chunks with damage (a rerun of the sweep recomputes them)."""
        return tuple(sorted({d.chunk for d in self.damage if d.chunk is not None}))

    @property
    def ok(self) -> bool:
        """Verified, and nothing damaged."""
        return self.verifiable and not self.damage

    def lines(self) -> list[str]:
        """The report, a line per damaged file and a summary line."""
        if not self.verifiable:
            return [f"{self.path}: cannot be verified: {self.reason}"]
        lines = [f"{self.path}: {d}" for d in self.damage]
        left = self.chunks - self.done
        todo = f"; {left} not computed yet (rerun its sweep to compute them)" if left else ""
        if not self.damage:
            return [f"{self.path}: every checksum of its {self.done} stored chunk(s) "
                    f"verified{todo}"]
        chunks = self.damaged_chunks
        what = (f"{len(chunks)} of {self.chunks} chunk(s) damaged ({_listed(chunks)})"
                if chunks else "no chunk damaged")
        fixed = sum(d.chunk is None for d in self.damage)
        also = f", {fixed} file(s) of metadata or coordinates damaged" if fixed else ""
        lines.append(f"{self.path}: {what}{also}{todo}; rerun its sweep (the same command or "
                     "call) to recompute and repair them")
        return lines


def verify(path: str | os.PathLike[str], *, workers: int | None = None) -> Report:
    """Check every file of a results store against what was recorded when it was written.

    Every array's metadata document, every coordinate and every chunk marked done: each
    file present, of the size written, decodable, and its values' checksum the one recorded.
    ``workers``: threads that decode and hash (default: one per core).

    Returns a :class:`Report`; ``report.ok`` is ``True`` when nothing is damaged, and
    ``report.lines()`` says what is, file by file. A rerun of the sweep into the store
    recomputes exactly the damaged chunks.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results store at {path!r}")
    layout = _layout_for_reading(path)
    if REFINED in layout.attrs:
        return Report(path, 0, 0, verifiable=False,
                      reason="a refined image (lrscape refine) has no checksums")
    if not layout.checksummed:
        return Report(path, layout.n_chunks, 0, verifiable=False, reason=(
            f"written by {describe(layout.attrs)} without checksums; rerun its sweep into a "
            "new store to have one that can be"))
    damage = integ.metadata_damage(layout)
    with _quiet():
        group = integ.zarr_group(path)
        damage += [d for found in integ.fixed_damage(layout, group).values() for d in found]
        records = integ.read_records(layout, group)
        done = [int(c) for c in np.flatnonzero(records.done)]
        with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
            for _, found in pool.map(lambda c: integ.chunk_values(layout, records, group, c),
                                     done):
                damage += found
    return Report(path, layout.n_chunks, len(done), tuple(damage))


def _listed(items: Sequence[Any], most: int = MAX_NAMED) -> str:
    shown = ", ".join(str(i) for i in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def _described(damage: Sequence[Damage]) -> str:
    """Damaged files, those of one variable with one problem said once."""
    groups: dict[tuple[str, str], list[Damage]] = {}
    for item in damage:
        groups.setdefault((item.variable, item.problem), []).append(item)
    return _listed([f"{found[0].file}: {problem}" if len(found) == 1 else
                    f"{len(found)} files of {name} ({found[0].file} to {found[-1].file}): "
                    f"{problem}" for (name, problem), found in groups.items()])


def _layout_for_reading(path: str) -> Layout:
    """The layout of a store to read (``ValueError`` for anything that is not one)."""
    try:
        layout = Layout.read(path)
    except ValueError as err:
        raise ValueError(f"{path!r} is not an lrscape results store ({err})") from None
    if "lrscape_version" not in layout.attrs:
        raise ValueError(f"{path!r} is not an lrscape results store")
    return layout


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

    A damaged chunk reads the same way, with one :class:`IntegrityWarning` that names it and
    its files: a file missing or not of the size it was written with (checked for every
    chunk, from the file system alone), one that cannot be decoded, or values whose checksum
    is not the one recorded (checked for every chunk read; of a sub-grid, for the chunks it
    touches when reading them whole costs at most :data:`CHECK_BUDGET` bytes or four times
    the sub-grid). :func:`verify`
    checks every checksum; a rerun of the sweep recomputes the damaged chunks. A damaged
    coordinate is an error (the grid itself is unknown); so is a store whose files cannot
    be read at all.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no results store at {path!r}")
    layout = _layout_for_reading(path)
    if REFINED in layout.attrs:  # an image is stored as the grid it is, and has no records
        flat = _lazy(layout, set())
        return _load(flat.isel(_positions(flat, list(flat.dims), isel or {})), path)
    if not layout.variables:
        raise ValueError(f"{path!r} is not an lrscape results store")
    stored, damage = _check_for_reading(layout)
    flat, trajectories = _read(layout, damage, records, isel)
    if layout.checksummed:
        _add(damage, _checksum_damage(layout, stored, flat, trajectories, damage))
    computed = stored.done & ~np.isin(np.arange(layout.n_chunks), list(damage))
    _blank(flat, layout, ~computed, trajectories)
    ds = from_flat(flat)
    if not computed.all():
        per_trajectory = np.repeat(computed, layout.chunk_size)
        read = slice(ds["regime"].size) if trajectories is None else trajectories
        _mark_not_computed(ds, per_trajectory[read].reshape(ds["regime"].shape))
    if damage:
        _warn_of_damage(path, damage, then="" if layout.checksummed else (
            "; rerun its sweep into a new store to compute them (one without checksums is "
            "not resumed)"))
    return ds


class _Hiding(LocalStore):
    """A read-only local store in which some files read as missing: a damaged chunk's files
    are not decoded (a chunk missing reads as fill values, and is flagged not computed)."""

    def __init__(self, root: str, hidden: set[str]):
        super().__init__(root, read_only=True)
        self.hidden = frozenset(hidden)

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        if key in self.hidden:
            return None
        return await super().get(key, prototype, byte_range)


def _check_for_reading(layout: Layout) -> tuple[integ.Records, dict[int, list[Damage]]]:
    """The records of a sweep's store, and the damage the file system shows (every chunk
    marked done: its files present and of the size written); a damaged coordinate is
    refused, a store without checksums warned of."""
    with _quiet():
        group = integ.zarr_group(layout.path)
        records = integ.read_records(layout, group)
        fixed = integ.fixed_damage(layout, group) if layout.checksummed else {}
    if fixed:
        files = [d for found in fixed.values() for d in found]
        raise ValueError(
            f"{layout.path!r}: the grid's coordinates are damaged ({_described(files)}); rerun "
            f"its sweep to repair them (`lrscape verify {layout.path}` lists all the damage)")
    if not layout.checksummed:
        warnings.warn(
            f"{layout.path!r} was written by {describe(layout.attrs)} without checksums: a "
            "chunk file lost or altered cannot be told from a computed one (a lost chunk "
            "reads as fill values); rerun its sweep into a new store to have it checked",
            IntegrityWarning, stacklevel=3)
        return records, dict(records.damage)
    damage = dict(records.damage)
    _add(damage, integ.file_damage(layout, records, np.flatnonzero(records.done)))
    return records, damage


def _add(damage: dict[int, list[Damage]], more: Mapping[int, list[Damage]]) -> None:
    for index, found in more.items():
        damage.setdefault(index, []).extend(found)


def _lazy(layout: Layout, hidden: set[str]) -> xr.Dataset:
    """The store opened lazily by xarray (the chunk records left out), ``hidden`` files
    read as missing."""
    try:
        with _quiet():
            flat = xr.open_zarr(_Hiding(layout.path, hidden))  # lazily: nothing read yet
    except Exception as err:  # noqa: BLE001 - a coordinate xarray reads at once is undecodable
        raise ValueError(f"{layout.path!r} cannot be read: {integ._short(err)} (`lrscape "
                         f"verify {layout.path}` names the damaged files)") from None
    return flat.drop_vars([name for name in RECORDS if name in flat.variables])


def _read(layout: Layout, damage: dict[int, list[Damage]], records: bool,
          isel: Mapping[str, Sequence[int] | slice] | None
          ) -> tuple[xr.Dataset, np.ndarray | None]:
    """The flat Dataset, read (``isel``'s trajectories, by their flat index, or ``None`` for
    all of them). Damaged files are not read; a file found undecodable is added to
    ``damage`` and the reading starts again without it."""
    hidden = {d.file for found in damage.values() for d in found}
    while True:
        flat = _lazy(layout, hidden)
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
        _check_fits(flat, layout.path)
        try:
            with _quiet():
                return flat.load(), trajectories
        except Exception as err:  # noqa: BLE001 - an undecodable file: find it, read around it
            chunks = (range(layout.n_chunks) if trajectories is None
                      else np.unique(trajectories // layout.chunk_size))
            names = [n for n in flat.data_vars if n in layout.variables]
            with _quiet():
                found = _undecodable(layout, names, chunks, hidden)
            if not found:
                raise ValueError(f"{layout.path!r} cannot be read: {integ._short(err)}"
                                 ) from None
            for item in found:
                damage.setdefault(item.chunk, []).append(item)
                hidden.add(item.file)


def _undecodable(layout: Layout, names: Sequence[str], chunks: Any,
                 hidden: set[str]) -> list[Damage]:
    """The chunk files of ``names`` and ``chunks`` that cannot be decoded."""
    group = integ.zarr_group(layout.path)
    found = []
    for name in names:
        array = group[name]
        for index in chunks:
            index = int(index)
            file = layout.chunk_file(name, index)
            if file is None or file in hidden:
                continue
            start, stop = layout.bounds(index)
            try:
                array[start:stop]
            except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
                found.append(Damage(name, index, file, f"undecodable ({integ._short(err)})"))
    return found


def _checksum_damage(layout: Layout, stored: integ.Records, flat: xr.Dataset,
                     trajectories: np.ndarray | None, damage: Mapping[int, list[Damage]]
                     ) -> dict[int, list[Damage]]:
    """Chunks read whose values are not those written (their checksums differ). Read whole,
    their values are at hand; of a sub-grid (``trajectories``), the chunks it touches are
    read whole again, one at a time, unless that is more than :data:`CHECK_BUDGET` bytes
    and four times the sub-grid (then their files' sizes and decoding alone are checked)."""
    chunks = [int(c) for c in np.flatnonzero(stored.done) if int(c) not in damage]
    names = [name for name in flat.data_vars if name in layout.variables]
    found: dict[int, list[Damage]] = {}
    if trajectories is None:  # hashed in threads: hashlib lets go of the GIL
        def check(job: tuple[str, int]) -> Damage | None:
            name, index = job
            start, stop = layout.bounds(index)
            return integ.value_damage(layout, stored, index, name,
                                      flat[name].values[start:stop])

        jobs = [(name, index) for name in names for index in chunks]
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            for (_, index), problem in zip(jobs, pool.map(check, jobs), strict=True):
                if problem is not None:
                    found.setdefault(index, []).append(problem)
        return found
    touched = sorted(set(chunks) & set(np.unique(trajectories // layout.chunk_size).tolist()))
    per_trajectory = sum(flat[n].nbytes for n in names) / max(len(trajectories), 1)
    if len(touched) * layout.chunk_size * per_trajectory > max(CHECK_BUDGET, 4 * flat.nbytes):
        return found
    with _quiet():
        group = integ.zarr_group(layout.path)
        for index in touched:
            start, stop = layout.bounds(index)
            for name in names:
                try:
                    values = np.asarray(group[name][start:stop])
                except Exception as err:  # noqa: BLE001 - changed since it was read
                    problem = Damage(name, index, layout.chunk_file(name, index) or name,
                                     f"undecodable ({integ._short(err)})")
                else:
                    problem = integ.value_damage(layout, stored, index, name, values)
                if problem is not None:
                    found.setdefault(index, []).append(problem)
    return found


def _blank(flat: xr.Dataset, layout: Layout, missing: np.ndarray,
           trajectories: np.ndarray | None) -> None:
    """Give the trajectories of the chunks ``missing`` (not computed, or damaged) the values
    of a chunk never written: NaN, or 0."""
    if not missing.any():
        return
    chunk_of = (np.arange(flat.sizes[TRAJECTORY]) if trajectories is None
                else trajectories) // layout.chunk_size
    rows = missing[chunk_of]
    for var in flat.data_vars.values():
        if TRAJECTORY in var.dims and rows.any():
            values = var.values.copy()
            values[rows] = integ.blank(values[rows])
            var.variable.values = values


def _warn_of_damage(path: str, damage: Mapping[int, list[Damage]],
                    done: str = "read as not computed", then: str = "", stacklevel: int = 3
                    ) -> None:
    """One warning that names the damaged chunks and their files."""
    chunks = sorted(damage)
    files = [d for index in chunks for d in damage[index]]
    then = then or (f"; rerun its sweep to recompute them (`lrscape verify {path}` checks "
                    "every checksum)")
    warnings.warn(f"{path!r}: {len(chunks)} damaged chunk(s) {done} (chunk {_listed(chunks)}: "
                  f"{_described(files)}){then}", IntegrityWarning, stacklevel=stacklevel)


def warn_of_repairs(store: ChunkStore) -> None:
    """Say which damaged chunks a resumed sweep found (and computes again), if any."""
    damage: dict[int, list[Damage]] = {}
    for item in store.damage:
        damage.setdefault(item.chunk, []).append(item)
    if damage:
        _warn_of_damage(store.path, damage, "found: computing them again", then=".",
                        stacklevel=5)


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
    """Read what ``flat`` selects, unless it cannot fit in the machine's memory (a file that
    cannot be decoded: a ``ValueError`` naming it)."""
    _check_fits(flat, path)
    try:
        with _quiet():
            return flat.load()
    except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
        raise ValueError(f"{path!r} cannot be read: {integ._short(err)}") from None


def _check_fits(flat: xr.Dataset, path: str) -> None:
    """Refuse to read more than the machine's RAM."""
    ram = machine_ram()
    if ram is not None and flat.nbytes > ram:
        raise ValueError(
            f"{path!r} holds {flat.nbytes / 1e9:.1f} GB here, more than this machine's "
            f"{ram / 1e9:.1f} GB of RAM: read what each trajectory has once "
            "(`records=False`), a sub-grid (`isel`), or the flat layout lazily with "
            "xarray.open_zarr")


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
