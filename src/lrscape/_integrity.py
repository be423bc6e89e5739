"""What each chunk of a results store wrote, recorded with it, and the checks that use it.

A sweep's store (:mod:`lrscape.store`) keeps three *record* arrays along its ``chunk``
dimension, one zarr chunk per sweep chunk, written after the chunk's data:

- ``chunk_checksum`` (``chunk``, ``chunk_variable``): for each variable over trajectories, an
  8-byte digest of the chunk's values as computed (SHA-256 of their raw bytes in C order, the
  first 8 bytes as a big-endian unsigned integer). Its attribute ``variables`` names the
  columns; ``fixed`` holds the digest of each array written when the store was created (the
  grid's coordinates, ``step``, ...).
- ``chunk_nbytes`` (the same dims): the size in bytes of each variable's file of the chunk, as
  written (compressed).
- ``chunk_done``: 1 once the two rows above are written.

Every chunk file is written, also one equal to its array's fill value, so a missing file is
damage, never a chunk that happens to hold fill values. The checks come in two strengths:
:func:`file_damage` looks at the files alone (present, of the recorded size: a ``stat`` each,
nothing decoded), :func:`chunk_values` decodes a chunk's files and compares their digests.
Nothing here decides what to do about damage; :mod:`lrscape.store` does.

This module reads files and zarr arrays; it knows nothing of sweeps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import zarr

DONE = "chunk_done"
CHECKSUM = "chunk_checksum"
NBYTES = "chunk_nbytes"
#: The arrays that record which chunks are written and what they wrote.
RECORDS = (DONE, CHECKSUM, NBYTES)
TRAJECTORY = "trajectory"
#: How :func:`digest` is computed, as the checksum array's attribute says it.
DIGEST = ("sha256 of the chunk's values (raw bytes in C order, as computed), its first 8 bytes "
          "as a big-endian unsigned integer")

# What zarr's local store writes before renaming into place (``<key>.<uuid4 hex>.partial``): a
# process killed mid-write leaves it behind.
PARTIAL_SUFFIX = r"\.[0-9a-f]{32}\.partial"
_PARTIAL_WRITE = re.compile(PARTIAL_SUFFIX + "$")


def digest(values: np.ndarray) -> int:
    """The 8-byte checksum of ``values`` (see :data:`DIGEST`)."""
    data = np.ascontiguousarray(values)
    return int.from_bytes(hashlib.sha256(data.view(np.uint8)).digest()[:8], "big")


@dataclasses.dataclass(frozen=True)
class Damage:
    """One thing wrong in a store: ``file`` (relative to the store) and what is wrong with it;
    ``variable`` and ``chunk`` say whose file it is (``chunk`` is ``None`` for a file that
    belongs to no sweep chunk: metadata, a coordinate)."""

    variable: str
    chunk: int | None
    file: str
    problem: str

    def __str__(self) -> str:
        where = f"chunk {self.chunk}, " if self.chunk is not None else ""
        return f"{self.file}: {self.problem} ({where}{self.variable})"


def _chunk_key(meta: Mapping[str, Any], coords: Sequence[int]) -> str:
    """The store key (``c/3/0``) of the chunk at ``coords`` of an array with metadata ``meta``."""
    encoding = meta["chunk_key_encoding"]
    default = encoding["name"] == "default"
    separator = encoding.get("configuration", {}).get("separator", "/" if default else ".")
    parts = [str(c) for c in coords]
    return separator.join(["c", *parts]) if default else (separator.join(parts) or "0")


@dataclasses.dataclass
class Layout:
    """A store's arrays and records, as its consolidated metadata describes them.

    Attributes:
        path: the store.
        attrs: the store's attributes (the sweep's configuration).
        arrays: array name -> its zarr metadata document (JSON, as in ``zarr.json``).
        chunk_size: trajectories per sweep chunk.
        n_chunks: sweep chunks.
        variables: the variables over trajectories, in the order of the checksum columns.
        fixed: digests of the arrays written at creation (empty for an unchecksummed store).
        checksummed: whether the store has chunk records (stores of lrscape 0.3 do not).
    """

    path: str
    attrs: dict[str, Any]
    arrays: dict[str, dict[str, Any]]
    chunk_size: int
    n_chunks: int
    variables: list[str]
    fixed: dict[str, int]
    checksummed: bool

    @classmethod
    def read(cls, path: str) -> Layout:
        """The layout of the store at ``path`` (``ValueError`` when its metadata cannot be
        read: not a zarr store of this kind, or its root ``zarr.json`` damaged)."""
        try:
            with open(os.path.join(path, "zarr.json"), "rb") as f:
                root = json.load(f)
            attrs = dict(root.get("attributes", {}))
            arrays = dict(root["consolidated_metadata"]["metadata"])
            chunk_size = int(attrs.get("chunk_size", 0))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"its metadata cannot be read: zarr.json: {_short(err)}") from None
        n_chunks = int(arrays[DONE]["shape"][0]) if DONE in arrays else 0
        record = arrays.get(CHECKSUM, {}).get("attributes", {})
        variables = list(record.get("variables", [])) or sorted(
            name for name, meta in arrays.items()
            if (meta.get("dimension_names") or [None])[0] == TRAJECTORY)
        fixed = {name: int(value, 16) for name, value in record.get("fixed", {}).items()}
        return cls(path, attrs, arrays, chunk_size, n_chunks, variables, fixed,
                   CHECKSUM in arrays)

    def bounds(self, index: int) -> tuple[int, int]:
        """The trajectories ``[start, stop)`` of chunk ``index``."""
        total = int(self.arrays[self.variables[0]]["shape"][0]) if self.variables else 0
        return index * self.chunk_size, min((index + 1) * self.chunk_size, total)

    def chunk_file(self, name: str, index: int) -> str | None:
        """The file of chunk ``index`` of ``name`` (a variable or a record array), relative to
        the store; ``None`` where the array holds no values per chunk (a zero-length dim)."""
        shape = self.arrays[name]["shape"]
        if 0 in shape[1:]:
            return None
        key = _chunk_key(self.arrays[name], (index,) + (0,) * (len(shape) - 1))
        return f"{name}/{key}"

    def fixed_files(self, name: str) -> list[str]:
        """Every chunk file of an array written at creation (a coordinate)."""
        meta = self.arrays[name]
        shape = meta["shape"]
        chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
        counts = [-(-n // c) for n, c in zip(shape, chunks, strict=True)]
        return [f"{name}/{_chunk_key(meta, coords)}" for coords in np.ndindex(*counts)]

    def dtype(self, name: str) -> np.dtype:
        return np.dtype(self.arrays[name]["data_type"])

    def fixed_arrays(self) -> list[str]:
        """The arrays written at creation: neither over trajectories nor records."""
        return [name for name, meta in self.arrays.items()
                if meta.get("node_type") == "array" and name not in RECORDS
                and name not in self.variables]


# -- metadata documents ----------------------------------------------------------------------


def metadata_damage(layout: Layout) -> list[Damage]:
    """Array metadata documents (``NAME/zarr.json``) that are missing, unreadable or differ
    from the store's consolidated metadata (which xarray and lrscape read)."""
    damage = []
    for name, meta in layout.arrays.items():
        file = f"{name}/zarr.json"
        try:
            with open(os.path.join(layout.path, file), "rb") as f:
                doc = json.load(f)
        except FileNotFoundError:
            damage.append(Damage(name, None, file, "missing"))
            continue
        except (OSError, ValueError) as err:
            damage.append(Damage(name, None, file, f"unreadable ({err})"))
            continue
        if doc != meta:
            damage.append(Damage(name, None, file, "differs from the consolidated metadata"))
    return damage


def repair_metadata(layout: Layout, damage: Iterable[Damage]) -> None:
    """Rewrite the damaged metadata documents from the consolidated metadata."""
    for item in damage:
        target = os.path.join(layout.path, item.file)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        temporary = f"{target}.{os.getpid()}.repairing"
        with open(temporary, "w") as f:
            json.dump(layout.arrays[item.variable], f, indent=2)
        os.replace(temporary, target)


# -- the records -------------------------------------------------------------------------------


@dataclasses.dataclass
class Records:
    """The chunk records as read: ``done`` per chunk, and the checksum and size rows
    (``None`` for a store without records); ``damage``: chunk -> what is wrong with its
    records (a row unreadable or missing although the chunk is marked done)."""

    done: np.ndarray
    checksum: np.ndarray | None
    nbytes: np.ndarray | None
    damage: dict[int, list[Damage]]


def read_records(layout: Layout, group: Any) -> Records:
    """The chunk records of ``layout``'s store (``group``: the store opened with zarr)."""
    damage: dict[int, list[Damage]] = {}
    done, bad = _read_rows(layout, group, DONE)
    for index, problem in bad.items():  # an undecodable mark: whether the chunk is done is lost
        damage.setdefault(index, []).append(problem)
    marked = done.astype(bool) | np.isin(np.arange(layout.n_chunks), list(bad))
    if not layout.checksummed:
        return Records(marked, None, None, damage)
    rows = {}
    for name in (CHECKSUM, NBYTES):
        rows[name], bad = _read_rows(layout, group, name)
        for index in np.flatnonzero(marked):
            file = layout.chunk_file(name, int(index))
            if index in bad:
                damage.setdefault(int(index), []).append(bad[index])
            elif not os.path.exists(os.path.join(layout.path, file)):
                damage.setdefault(int(index), []).append(
                    Damage(name, int(index), file, "missing"))
    return Records(marked, rows[CHECKSUM], rows[NBYTES], damage)


def refresh(records: Records, layout: Layout, group: Any, index: int) -> None:
    """Read chunk ``index``'s records again, in place (another process may have written
    the chunk since they were read)."""
    records.damage.pop(index, None)
    try:
        records.done[index] = bool(group[DONE][index])
    except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
        records.done[index] = True
        records.damage[index] = [Damage(DONE, index, layout.chunk_file(DONE, index),
                                        f"undecodable ({_short(err)})")]
    if not layout.checksummed or not records.done[index]:
        return
    for name, rows in ((CHECKSUM, records.checksum), (NBYTES, records.nbytes)):
        file = layout.chunk_file(name, index)
        problem = None
        if not os.path.exists(os.path.join(layout.path, file)):
            problem = "missing"
        else:
            try:
                rows[index] = group[name][index]
            except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
                problem = f"undecodable ({_short(err)})"
        if problem is not None:
            records.damage.setdefault(index, []).append(Damage(name, index, file, problem))


def _read_rows(layout: Layout, group: Any, name: str) -> tuple[np.ndarray, dict[int, Damage]]:
    """A record array, whole; chunk by chunk where that fails, the chunks that cannot be
    decoded left at 0 and named."""
    try:
        array = group[name]
    except KeyError:
        return np.zeros(layout.n_chunks, np.uint64), {}
    try:
        return np.asarray(array[...]), {}
    except Exception:  # noqa: BLE001 - one undecodable chunk fails the whole read: find it
        values = np.zeros(array.shape, array.dtype)
        bad = {}
        for index in range(layout.n_chunks):
            try:
                values[index] = array[index]
            except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
                bad[index] = Damage(name, index, layout.chunk_file(name, index),
                                    f"undecodable ({_short(err)})")
        return values, bad


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


# -- the data files ----------------------------------------------------------------------------


def file_damage(layout: Layout, records: Records, chunks: Iterable[int],
                names: Sequence[str] | None = None) -> dict[int, list[Damage]]:
    """What is wrong with the files of ``chunks`` (those of ``names``, default all), seen from
    the file system alone: a file missing, or not of the size recorded when it was written."""
    damage: dict[int, list[Damage]] = {}
    names = layout.variables if names is None else names
    columns = {name: k for k, name in enumerate(layout.variables)}
    for index in chunks:
        index = int(index)
        for name in names:
            file = layout.chunk_file(name, index)
            if file is None:
                continue
            try:
                size = os.stat(os.path.join(layout.path, file)).st_size
            except FileNotFoundError:
                problem = "missing" + (" (its variable's folder is gone)" if not os.path.isdir(
                    os.path.join(layout.path, name)) else "")
                damage.setdefault(index, []).append(Damage(name, index, file, problem))
                continue
            if records.nbytes is None or name not in columns:
                continue
            written = int(records.nbytes[index, columns[name]])
            if size != written:
                what = "truncated" if size < written else "altered"
                damage.setdefault(index, []).append(Damage(
                    name, index, file, f"{what}: {size:,} bytes, {written:,} written"))
    return damage


def value_damage(layout: Layout, records: Records, index: int, name: str,
                 values: np.ndarray) -> Damage | None:
    """Whether ``values`` (chunk ``index`` of ``name``, as read) are what was written."""
    if records.checksum is None or name not in layout.variables:
        return None
    recorded = int(records.checksum[index, layout.variables.index(name)])
    if digest(np.asarray(values, layout.dtype(name))) == recorded:
        return None
    return Damage(name, index, layout.chunk_file(name, index) or name,
                  "checksum differs: its values are not those written")


def chunk_values(layout: Layout, records: Records, group: Any, index: int,
                 keep: Sequence[str] = ()) -> tuple[dict[str, np.ndarray], list[Damage]]:
    """Check chunk ``index`` completely: its files (:func:`file_damage`), then every
    variable decoded and compared with its checksum. Returns the values of the variables
    ``keep`` (when the chunk is intact) and what is wrong."""
    damage = list(records.damage.get(index, []))
    damage += file_damage(layout, records, [index]).get(index, [])
    bad = {d.variable for d in damage}
    start, stop = layout.bounds(index)
    kept = {}
    for name in layout.variables:
        if name in bad:
            continue
        try:
            values = np.asarray(group[name][start:stop])
        except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
            damage.append(Damage(name, index, layout.chunk_file(name, index) or name,
                                 f"undecodable ({_short(err)})"))
            continue
        if (problem := value_damage(layout, records, index, name, values)) is not None:
            damage.append(problem)
        elif name in keep:
            kept[name] = values
    return (kept if not damage else {}), damage


def fixed_damage(layout: Layout, group: Any) -> dict[str, list[Damage]]:
    """What is wrong with the arrays written at creation (coordinates): a file missing, a
    value that cannot be decoded or whose digest is not the one recorded."""
    damage: dict[str, list[Damage]] = {}
    for name in layout.fixed_arrays():
        problems = [Damage(name, None, file, "missing") for file in layout.fixed_files(name)
                    if not os.path.exists(os.path.join(layout.path, file))]
        if not problems and layout.checksummed:
            try:
                values = np.asarray(group[name][...])
            except Exception as err:  # noqa: BLE001 - zstd, shape and codec errors alike
                problems.append(Damage(name, None, name, f"undecodable ({_short(err)})"))
            else:
                if name in layout.fixed and digest(values) != layout.fixed[name]:
                    problems.append(Damage(name, None, name,
                                           "checksum differs: its values are not those written"))
        if problems:
            damage[name] = problems
    return damage


# -- files of writes cut short ---------------------------------------------------------------


def partial_writes(path: str) -> list[str]:
    """The files zarr's writes left unfinished in the store (relative paths)."""
    found = []
    for root, _, files in os.walk(path):
        for name in files:
            if _PARTIAL_WRITE.search(name):
                found.append(os.path.relpath(os.path.join(root, name), path))
    return found


def chunk_of(layout: Layout, file: str) -> int | None:
    """The sweep chunk a file (or a partial write of it) belongs to, if any."""
    name, _, key = _PARTIAL_WRITE.sub("", file).replace(os.sep, "/").partition("/")
    if name not in layout.variables and name not in RECORDS:
        return None
    parts = key.split("/")
    if len(parts) >= 2 and parts[0] == "c" and parts[1].isdigit():
        return int(parts[1])
    return None


def blank(values: np.ndarray) -> np.ndarray:
    """What a chunk not computed reads as: NaN for floats, 0 (False) otherwise."""
    return np.full_like(values, np.nan if np.issubdtype(values.dtype, np.floating) else 0)


def zarr_group(path: str) -> Any:
    """The store opened read-only through its consolidated metadata (no ``zarr.json`` of an
    array is read, so one that is lost does not hide the array)."""
    return zarr.open_group(path, mode="r", use_consolidated=True)
