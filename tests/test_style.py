"""The code is ruff-clean (run as part of the test command, so CI enforces it)."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parents[1]


def test_ruff_is_clean():
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    paths = [str(ROOT / p) for p in ("src", "tests", "benchmarks", "experiments")
             if (ROOT / p).exists()]
    result = subprocess.run([sys.executable, "-m", "ruff", "check", *paths],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
