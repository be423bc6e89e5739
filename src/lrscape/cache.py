"""JAX's persistent compilation cache, in a user cache folder: a sweep shape compiles once.

Most of a short sweep's time is XLA compiling its program (1-3 s for the 2-D valley, 10 s and
more for the ``mlp`` landscape), and a new process compiles it again. JAX can keep compiled
programs on disk and read them back in later processes (its *persistent compilation cache*).
The command line turns it on for every run; in Python it is one call::

    import lrscape
    lrscape.use_compilation_cache()   # before the first sweep of the process

The folder is, in order: the ``path`` given; ``$LRSCAPE_CACHE_DIR``; JAX's own
``jax_compilation_cache_dir`` setting (``$JAX_COMPILATION_CACHE_DIR``) where one is set; else
``lrscape/jax`` in the platform's user cache folder (``$XDG_CACHE_HOME`` or ``~/.cache`` on
Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows). ``LRSCAPE_COMPILE_CACHE=0``
leaves the command line's cache off.

A program read from the cache is the one XLA compiled, so no result changes. The cache trusts
its folder: whoever can write there can make JAX run code, so do not point it at a folder
others can write to.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Programs that compile faster than this many seconds are not stored (0: every one, so a
#: second run of the same sweep compiles nothing).
MIN_COMPILE_SECONDS = 0.0


def default_cache_dir() -> Path:
    """The folder the cache uses when none is given (see the module's docstring)."""
    if os.environ.get("LRSCAPE_CACHE_DIR"):
        return Path(os.environ["LRSCAPE_CACHE_DIR"]).expanduser()
    import jax

    if jax.config.jax_compilation_cache_dir:
        return Path(jax.config.jax_compilation_cache_dir).expanduser()
    if sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    elif sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lrscape" / "jax"


def use_compilation_cache(path: str | os.PathLike | None = None, *,
                          min_compile_seconds: float | None = None) -> Path:
    """Keep compiled programs in ``path`` (default :func:`default_cache_dir`) for later
    processes, and read them from there; returns the folder.

    Call it before the process's first sweep: JAX opens its cache at the first compilation
    and keeps that folder for the rest of the process. ``min_compile_seconds``: programs that
    compile faster are not stored (default: ``$JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS``
    where set, else :data:`MIN_COMPILE_SECONDS`).
    """
    if min_compile_seconds is None:
        min_compile_seconds = float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")
                                    or MIN_COMPILE_SECONDS)
    if (isinstance(min_compile_seconds, bool) or not isinstance(min_compile_seconds, (int, float))
            or not min_compile_seconds >= 0):
        raise ValueError(f"min_compile_seconds must be a number >= 0, got "
                         f"{min_compile_seconds!r}")
    import jax

    folder = Path(path).expanduser() if path is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"the compilation cache folder {str(folder)!r} cannot be made: "
                         f"{error.strerror or error}") from None
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    return folder


def cache_wanted() -> bool:
    """Whether ``LRSCAPE_COMPILE_CACHE`` leaves the command line's cache on (the default)."""
    return os.environ.get("LRSCAPE_COMPILE_CACHE", "1").strip().lower() not in (
        "0", "false", "no", "off")
