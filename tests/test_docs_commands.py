"""The command lines the documentation site shows are ones the program accepts, and its
Python examples run.

Every ``lrscape ...`` line of a ``bash`` block in ``docs/`` is parsed by the program's own
parser (``lrscape.cli.build_parser``), so a renamed flag or subcommand fails here, not in a
reader's shell. A trailing ``...`` marks a line as an excerpt ("and the rest of your flags") and
is dropped before parsing. Parsing runs nothing; the README's commands are run in full by
tests/test_readme.py, and the trainability page's refine command by the slow test below.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from lrscape.cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"
FENCE = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def _command_lines(text: str) -> list[str]:
    """The ``lrscape`` commands of the text's bash blocks, continuations joined, comments cut."""
    commands = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "lrscape":
                commands.append(shlex.join(words))
    return commands


COMMANDS = sorted({(str(page.relative_to(DOCS)), command)
                   for page in DOCS.rglob("*.md") if "_build" not in page.parts
                   for command in _command_lines(page.read_text())})


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 20, COMMANDS


@pytest.mark.parametrize(("page", "command"), COMMANDS)
def test_every_documented_command_line_parses(page, command, capsys):
    words = shlex.split(command)[1:]
    if words and words[-1] == "...":
        words = words[:-1]
    try:
        build_parser().parse_args(words)
    except SystemExit as exit_:
        pytest.fail(f"{page}: `{command}` is refused by the parser ({exit_.code}): "
                    f"{capsys.readouterr().err.strip()}")


@pytest.mark.slow
def test_the_trainability_pages_refine_command_runs_and_finds_the_boundary(tmp_path):
    """The paper's network at 129²: the image holds both classes (no one-class warning)."""
    page = (DOCS / "concepts" / "trainability.md").read_text()
    refine = next(c for c in _command_lines(page) if c.startswith("lrscape refine"))
    lrscape = Path(sys.executable).parent / "lrscape"
    done = subprocess.run([str(lrscape), *shlex.split(refine)[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "every pixel of the refined image" not in done.stderr
    import lrscape as lr

    image = lr.open(tmp_path / "refined.zarr")
    assert 0.1 < float(image.trainable.mean()) < 0.9


PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: Pages whose Python examples run in seconds; run here, each page's blocks as one script.
FAST_EXAMPLES = ["concepts/sweep.md", "concepts/landscapes.md", "concepts/paths.md"]
#: Pages whose examples take minutes (a 6,000-step network with curvature, minibatch epochs).
SLOW_EXAMPLES = ["concepts/curvature.md", "concepts/stochastic.md"]


def _run_examples(page: str, cwd: Path) -> None:
    script = "\n\n".join(PYTHON.findall((DOCS / page).read_text()))
    if "import lrscape\n" not in script:
        script = "import lrscape\n" + script
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True,
                          text=True, timeout=900, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, f"{page}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("page", FAST_EXAMPLES)
def test_the_python_examples_of_a_page_run(page, tmp_path):
    _run_examples(page, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW_EXAMPLES)
def test_the_longer_python_examples_of_a_page_run(page, tmp_path):
    _run_examples(page, tmp_path)
