"""Which process writes which chunk of a store: advisory locks, released when a process dies.

Several processes may write one store: two runs of the same sweep, or a sweep resumed while
another still runs. Each takes a *claim* on a chunk before computing it and gives it up once
the chunk is written; a chunk claimed by another process is left to it (and waited for at the
end), so two processes share a sweep's chunks and never write the same one at once, and a
process that resumes a store never touches the files of a write another has in flight. A
short *store lock* covers what concerns the whole store: repairing its metadata, removing the
files of writes cut short.

The locks are POSIX record locks (``fcntl.lockf``) on byte ranges of one file in the store,
``chunk_done/writers.lock``: byte 0 is the store lock, byte ``c + 1`` chunk ``c``'s claim.
The kernel releases them when their process ends, however it ends (SIGKILL included), so a
killed sweep leaves no stale claim. They are hand-written on the standard library rather than
taken from a package such as ``filelock``, which locks whole files only: a claim per chunk
would need a file per chunk. Record locks are per process (a process never conflicts with
itself) and work on local and NFS file systems; where ``fcntl`` is missing (Windows), nothing
is locked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ("chunk_done", "writers.lock")


class Claims:
    """The claims of this process on the chunks of the store at ``path``."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._held: set[int] = set()

    def _file(self) -> int | None:
        if fcntl is None:
            return None
        if self._fd is None:
            lock = os.path.join(self.path, *LOCK_FILE)
            os.makedirs(os.path.dirname(lock), exist_ok=True)
            self._fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        return self._fd

    def _lock(self, offset: int, wait: bool) -> bool:
        fd = self._file()
        if fd is None:
            return True
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB), 1, offset)
        except (BlockingIOError, PermissionError):  # held by another process
            return False
        return True

    def _unlock(self, offset: int) -> None:
        if self._fd is not None:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset)

    def claim(self, index: int, *, wait: bool = False) -> bool:
        """Claim chunk ``index``: ``True`` once this process holds it; ``False`` when another
        process does (``wait``: block until it gives it up)."""
        if index in self._held:
            return True
        if self._lock(index + 1, wait):
            self._held.add(index)
            return True
        return False

    def release(self, index: int) -> None:
        """Give up the claim on chunk ``index`` (nothing if not held)."""
        if index in self._held:
            self._held.discard(index)
            self._unlock(index + 1)

    @contextlib.contextmanager
    def store_lock(self) -> Iterator[None]:
        """Hold the store lock (waiting for another process that holds it)."""
        self._lock(0, wait=True)
        try:
            yield
        finally:
            self._unlock(0)

    def close(self) -> None:
        """Give up every claim and lock of this process on the store."""
        self._held.clear()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path, "_fd": None, "_held": set()}  # locks stay with their process
