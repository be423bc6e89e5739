"""Every command in the README runs as written.

The README's fenced blocks are read from the file itself, so a command edited there is the
command tested here:

* the ``python`` blocks run, in order, as one script (a later block may use an earlier one's
  names) in a fresh folder, in this interpreter;
* each ``bash`` block runs in a fresh folder with this environment's scripts first on ``PATH``,
  under ``bash -e``, so a failing line fails the test. The quickstart and documentation blocks
  start by creating a virtual environment and installing lrscape (``... pip install ... &&``):
  that part is what CI does itself, and the test suite cannot reinstall the package it runs
  from, so only what comes after the installation runs here, on the installed lrscape. The
  test command's ``pytest`` (this very suite) and the site's Sphinx build (CI runs it, as
  written, after the suite) are the two commands left out, by name.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
#: A command prefix that creates and fills a virtual environment (the quickstart's).
INSTALL = re.compile(r"^python3 -m venv \.venv && \.venv/bin/pip install (?:-e )?\S+ && ")
#: What the README runs that this suite does not: itself, and the documentation build.
NOT_RUN_HERE = ("-m pytest", "-m sphinx")
BIN = Path(sys.executable).parent


def _blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text()) if lang == language]


def _runnable(block: str) -> str | None:
    """The block's commands with the installation prefix removed; None when nothing is left
    that this suite may run."""
    commands = INSTALL.sub("", block.strip()).replace(".venv/bin/", "")
    if any(name in commands for name in NOT_RUN_HERE):
        return None
    return commands


def test_the_readme_has_the_two_quickstart_commands_and_they_install_then_run():
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = [body.strip() for lang, body in FENCE.findall(quickstart) if lang == "bash"]
    assert len(commands) == 2, commands
    assert all(INSTALL.match(c) for c in commands), commands
    assert commands[0].endswith("lrscape sweep") and commands[1].endswith("-m pytest")


def test_the_readme_is_short():
    assert len(README.read_text().splitlines()) <= 200


def test_the_python_examples_run_as_written(tmp_path):
    script = "\n\n".join(_blocks("python"))
    assert script, "the README has no python example"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "valley.png").is_file()


BASH_BLOCKS = [b for b in map(_runnable, _blocks("bash")) if b]


@pytest.mark.parametrize("commands", BASH_BLOCKS,
                         ids=[" ".join(b.split()[:2]) for b in BASH_BLOCKS])
def test_the_shell_commands_run_as_written(commands, tmp_path):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MPLBACKEND": "Agg",
           "LRSCAPE_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(["bash", "-e", "-c", commands], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{commands}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    if commands.strip() == "lrscape sweep":  # the quickstart's main job writes what it says
        assert (tmp_path / "lrscape-sweep.png").is_file()
        assert (tmp_path / "lrscape-sweep.zarr" / "zarr.json").is_file()

