"""The persistent compilation cache: a second process compiling the same sweep reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import lrscape

# One small sweep in a fresh process; prints how many programs JAX read from the cache and
# how many it compiled, counted by JAX's own monitoring events.
SCRIPT = r"""
import json, sys
import jax
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
import lrscape
folder = lrscape.use_compilation_cache(sys.argv[1])
ds = lrscape.sweep("quadratic", "momentum",
                   {"learning_rate": lrscape.linspace(0.1, 3.0, 7), "momentum": [0.0, 0.5]},
                   steps=60, record_every=10, progress=False)
print(json.dumps({"hits": events.count("/jax/compilation_cache/cache_hits"),
                  "misses": events.count("/jax/compilation_cache/cache_misses"),
                  "regimes": ds.regime.values.ravel().tolist(), "folder": str(folder)}))
"""


def _run(folder):
    env = {k: v for k, v in os.environ.items()
           if k not in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], env=env, check=True,
                         capture_output=True, text=True, timeout=240)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_compiling_the_same_sweep_reads_the_cache(tmp_path):
    folder = tmp_path / "jax-cache"
    first = _run(folder)
    assert first["folder"] == str(folder)
    assert first["misses"] >= 1 and first["hits"] == 0
    assert any(folder.iterdir()), "the first process wrote nothing to the cache"
    second = _run(folder)
    assert second["hits"] >= 1
    assert second["misses"] == 0, "the second process compiled a program again"
    assert second["regimes"] == first["regimes"]


def test_the_command_line_uses_the_cache_unless_told_not_to(tmp_path):
    folder, off = tmp_path / "cli-cache", tmp_path / "unused"
    base = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    for i, (env, where) in enumerate((
            ({"LRSCAPE_CACHE_DIR": str(folder)}, folder),
            ({"LRSCAPE_CACHE_DIR": str(off), "LRSCAPE_COMPILE_CACHE": "0"}, off))):
        subprocess.run([sys.executable, "-m", "lrscape.cli", "sweep", "--landscape", "quadratic",
                        "--lr", "0.5,1.5", "--steps", "20", "--out", str(tmp_path / f"{i}.zarr"),
                        "--plot", "", "--no-paths"],
                       env={**base, **env}, check=True, capture_output=True, timeout=240)
        if where is folder:
            assert any(folder.iterdir())
        else:
            assert not off.exists()


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    import jax

    monkeypatch.setenv("LRSCAPE_CACHE_DIR", str(tmp_path / "mine"))
    assert lrscape.cache.default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("LRSCAPE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = jax.config.jax_compilation_cache_dir  # the test session's own cache
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "jax-own"))
        assert lrscape.cache.default_cache_dir() == tmp_path / "jax-own"
        jax.config.update("jax_compilation_cache_dir", None)
        if sys.platform.startswith("linux"):
            assert lrscape.cache.default_cache_dir() == tmp_path / "xdg" / "lrscape" / "jax"
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


@pytest.mark.parametrize("value", [-1.0, "soon", True])
def test_a_bad_minimum_compile_time_is_refused_by_name(value, tmp_path):
    with pytest.raises(ValueError, match="min_compile_seconds"):
        lrscape.use_compilation_cache(tmp_path, min_compile_seconds=value)
