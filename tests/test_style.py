"""The code is ruff-clean (run as part of the test command, so CI enforces it)."""

import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).parents[1]


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    paths = [str(ROOT / p) for p in ("src", "tests", "benchmarks", "experiments")
             if (ROOT / p).exists()]
    result = subprocess.run([ruff, "check", *paths], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
