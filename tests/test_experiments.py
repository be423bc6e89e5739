"""The experiment scripts run end to end and find what theory says (slow: run with -m slow).

Their fast equivalents are in the default run: test_theory_edges.py (the double well's
periods) and test_curvature.py (Lyapunov signs, the catapult's thresholds).
"""

import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[1]


def run(script: str, tmp_path: pathlib.Path) -> str:
    result = subprocess.run([sys.executable, str(ROOT / "experiments" / script), "--out",
                             str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow
def test_chaos_experiment(tmp_path):
    out = run("chaos.py", tmp_path)
    assert (tmp_path / "chaos.png").stat().st_size > 50_000
    assert "eta in (1.0000, 1.2361): regimes ['PERIODIC'], periods [2]" in out
    assert "eta in (1.2361, 1.2880): regimes ['PERIODIC'], periods [4]" in out
    assert "eta in (1.2880, 1.2992): regimes ['PERIODIC'], periods [8]" in out
    assert "eta in (2.0000, 2.1000): regimes ['DIVERGED']" in out


@pytest.mark.slow
def test_catapult_experiment(tmp_path):
    out = run("catapult.py", tmp_path)
    assert (tmp_path / "catapult.png").stat().st_size > 50_000
    for width in (300, 1000, 3000):
        line = next(x for x in out.splitlines() if x.startswith(f"n = {width:5d}"))
        start, end = map(float, re.findall(r"from (?:eta\*lambda0 = )?([\d.]+)", line))
        assert start == pytest.approx(2.0, abs=0.15) and end == pytest.approx(4.0, abs=0.05)


@pytest.mark.slow
def test_edge_of_stability_experiment(tmp_path):
    out = run("edge_of_stability.py", tmp_path)
    assert (tmp_path / "edge_of_stability.png").stat().st_size > 50_000
    for key in ("gradient descent, eta = 0.4", "gradient descent, eta = 0.5",
                "heavy ball, β = 0.5, eta = 0.65", "heavy ball, β = 0.5, eta = 0.72"):
        line = next(x for x in out.splitlines() if x.startswith(key))
        lo, hi = map(float, re.findall(r"\[([\d.]+), ([\d.]+)\]", line)[0])
        assert 0.9 < lo <= hi < 1.1, line


@pytest.mark.slow
def test_large_lr_instability_experiment(tmp_path):
    out = run("large_lr_instability.py", tmp_path)
    assert (tmp_path / "large_lr_instability.png").stat().st_size > 50_000
    lines = {line.split()[0]: line for line in out.splitlines() if "eta =" in line}
    assert "sharp drops 0" in lines["small"] and "min overlap 1.00" in lines["small"]
    assert "sharp drops 0" not in lines["medium"]


def numbers(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])-?\d+\.\d+(?:e-?\d+)?", line)]


@pytest.mark.slow
def test_snapshot_vs_mean_experiment(tmp_path):
    out = run("snapshot_vs_mean.py", tmp_path)
    assert (tmp_path / "snapshot_vs_mean.png").stat().st_size > 50_000
    assert "epoch | train loss (epoch mean) | train loss (snapshot) | val loss | val acc" in out
    large = next(x for x in out.splitlines() if x.startswith("lr 0.12:"))
    small = next(x for x in out.splitlines() if x.startswith("lr 0.02:"))
    (mean_large, val_large), (_, val_small) = numbers(large)[-2:], numbers(small)[-2:]
    assert val_large > 2.5 * mean_large and val_small < 0.25 * val_large


@pytest.mark.slow
def test_step_decay_experiment(tmp_path):
    out = run("step_decay.py", tmp_path)
    assert (tmp_path / "step_decay.png").stat().st_size > 50_000
    lines = out.splitlines()
    constant = numbers(next(x for x in lines if x.startswith("constant   valley")))
    decay = numbers(next(x for x in lines if x.startswith("step decay valley")))
    assert max(constant) < 1.2 * min(constant)  # one plateau
    assert decay[1] < decay[0] / 5 and decay[2] < decay[1] / 1.5  # a drop at each cut
    for line in (x for x in lines if "noisy quadratic model" in x):
        assert numbers(line)[0] < 0.05  # the median error against the closed form
    # when to cut: the later the cut, the lower the loss after it and the larger the drop
    before, after, drop = np.array(
        [numbers(x)[-3:] for x in lines if x.startswith("cut after")]).T
    assert len(drop) >= 10 and np.all(np.diff(after) < 0) and drop[-1] > 4 * drop[0]
    assert before[0] / before[-1] < 2 < after[0] / after[-1]  # the plateau hardly moves


@pytest.mark.slow
def test_lr_range_test_experiment(tmp_path):
    out = run("lr_range_test.py", tmp_path)
    assert (tmp_path / "lr_range_test.png").stat().st_size > 50_000
    lowest, tenth, steepest = numbers(next(x for x in out.splitlines() if "loss lowest" in x))
    edge, theory_edge, best = numbers(next(x for x in out.splitlines()
                                           if "does not diverge" in x))
    assert edge == pytest.approx(theory_edge, rel=0.1)
    assert steepest < lowest < edge and tenth == pytest.approx(lowest / 10, rel=0.02)
