"""The command line as a package entry point, ``lrscape list NAME`` and every ``--help``."""

import subprocess
import sys


def test_python_dash_m_lrscape_runs_the_command_line_as_lrscape():
    result = subprocess.run([sys.executable, "-m", "lrscape", "--help"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("usage: lrscape ")
