"""The command line as a package entry point, ``lrscape list NAME`` and every ``--help``."""

import dataclasses
import subprocess
import sys

import pytest

import lrscape
from lrscape import cli


def test_python_dash_m_lrscape_runs_the_command_line_as_lrscape():
    result = subprocess.run([sys.executable, "-m", "lrscape", "--help"], capture_output=True,
                            text=True, check=True)
    assert result.stdout.startswith("usage: lrscape ")


def test_list_name_prints_a_landscapes_formula_and_every_field_with_its_default(capsys):
    assert cli.main(["list", "narrow-valley"]) == 0
    out = capsys.readouterr().out
    assert r"\sqrt{x_0^2 + \delta^2}" in out  # the formula, as the docstring gives it
    assert "Fields:" not in out  # folded into the field table
    valley = lrscape.landscapes.get("narrow-valley")
    for field in dataclasses.fields(valley):
        assert f"  {field.name} = {getattr(valley, field.name)!r}   [" in out
    assert "dim = 2   [shape]" in out and "wall_curvature = 100.0   [sweepable]" in out
    assert "curvature across the valley at the start" in out  # the field's description


@pytest.mark.parametrize("category", ["landscapes", "optimizers", "schedules"])
def test_every_registered_name_is_described(category, capsys):
    module = getattr(lrscape, category)
    for name in module.available():
        assert cli.main(["list", name]) == 0, name
        out = capsys.readouterr().out
        assert out.startswith(f"{name}  (lrscape."), name


def test_list_describes_an_optimizer_with_its_closed_form_edges(capsys):
    assert cli.main(["list", "momentum"]) == 0
    out = capsys.readouterr().out
    assert "momentum = 0.9" in out and "learning_rate = 'required'" in out
    assert "ηλ = 2(1+β): diverges" in out


def test_list_of_an_unknown_name_suggests_the_closest_and_fails(capsys):
    assert cli.main(["list", "narow-valley"]) == 2
    err = capsys.readouterr().err
    assert "'narow-valley'" in err and "did you mean narrow-valley" in err
