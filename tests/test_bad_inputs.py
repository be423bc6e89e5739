"""The bad inputs of issue 25, one by one: each a clear error naming the setting and the value,
before anything compiles wherever the check needs no compiled program (store checks
included), and on the command line one line and exit status 2, never a traceback."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr
import zarr

import lrscape
from lrscape import cli
from tests.test_sweep import CompileCounter

VALLEY = lrscape.landscapes.get("narrow-valley")
LR = {"learning_rate": [0.01, 0.02]}
GRID = {"learning_rate": [0.01, 0.02], "momentum": [0.5]}
FIXED = lrscape.optimizers.get("momentum", learning_rate=0.1, momentum=0.5)
BIG = 1e40  # finite in float64, inf in float32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # a float where an integer belongs is refused, not truncated
        ({"steps": 100.7}, "`steps` must be an integer >= 1, got 100.7"),
        ({"record_every": 2.5}, "`record_every` must be an integer >= 1, got 2.5"),
        # finite as given, inf in float32
        ({"grid": {"learning_rate": [0.01, BIG]}},
         r"grid axis 'learning_rate' = 1e\+40 overflows float32 \(its largest number is "
         r"3.4e\+38\), where it would run as inf: run with dtype=float64"),
        ({"grid": {**LR, "momentum": [0.5, BIG]}}, r"grid axis 'momentum' = 1e\+40 overflows"),
        ({"optimizer": lrscape.optimizers.get("momentum", momentum=BIG), "grid": LR},
         r"the optimizer's 'momentum' = 1e\+40 overflows float32"),
        ({"x0": [BIG, 0.0]}, r"`x0` = 1e\+40 overflows float32"),
        ({"x0": [1e-50, 1.0]}, r"`x0` = 1e-50 rounds to 0 in float32"),
        ({"landscape": VALLEY.replace(wall_curvature=1e39)},
         r"landscape field `wall_curvature` = 1e\+39 overflows float32"),
        ({"gradient_noise": 1e39}, r"`gradient_noise` = 1e\+39 overflows float32"),
        # a schedule field swept as an axis is checked against the run's length
        ({"schedule": "linear-warmup", "grid": {**GRID, "warmup_steps": [50, 5000]}},
         r"grid axis 'warmup_steps' = 5000: LinearWarmup: `warmup_steps` = 5000.0 lies past "
         "the last step of a 100-step run"),
        ({"schedule": lrscape.schedules.get("warmup-stable-decay", warmup_steps=10,
                                            stable_steps=10, decay_steps=10),
          "grid": {**GRID, "stable_steps": [10, 20], "decay_steps": [10, 100]}},
         r"grid axis 'stable_steps' = 10, 'decay_steps' = 100: WarmupStableDecay: warmup \+ "
         r"stable \+ decay = 120 steps lies past the last step of a 100-step run"),
        # every hyperparameter fixed and no axis
        ({"optimizer": FIXED, "grid": None},
         r"`grid` is None: a sweep needs at least one axis, e.g. grid=\{'learning_rate'"),
        ({"optimizer": FIXED, "grid": {}}, r"`grid` is \{\}: a sweep needs at least one axis"),
        # more steps than the run counts exactly
        ({"steps": 2**32}, r"`steps` = 4,294,967,296 is more than a float32 run counts exactly "
                           r"\(16,777,216 updates\): run fewer steps or run with dtype=float64"),
        ({"steps": 2**32, "dtype": "float64"},
         r"`steps` = 4,294,967,296 is more than a float64 run counts exactly \(2,147,483,647"),
        # records beyond the memory budget: fewer records suggested, before compiling
        ({"steps": 10**9, "record_every": 1, "dtype": "float64", "records": False},
         r"1,000,000,000 record windows \(`steps` = 1,000,000,000 / `record_every` = 1\) take "
         r".* bytes in a compiled call of the fewest trajectories .* record less often "
         r"\(`record_every` = \d+ keeps"),
        ({"max_memory": 1}, r"`max_memory` = 1 bytes is less than a compiled call of the "
                            r"fewest trajectories .* holds in its records alone: .* raise "
                            "`max_memory`"),
        ({"grid": {"learning_rate": [True, 0.1]}}, "grid axis 'learning_rate': values must be "
                                                   "numbers"),
    ],
)
def test_a_bad_input_is_refused_before_compiling(kwargs, message):
    args = {"landscape": VALLEY, "optimizer": "momentum", "grid": GRID, "steps": 100,
            "progress": False, **kwargs}
    with CompileCounter() as compiles, pytest.raises(ValueError, match=message):
        lrscape.sweep(args.pop("landscape"), args.pop("optimizer"), args.pop("grid"), **args)
    assert compiles.count == 0


def test_a_grid_beyond_the_ram_is_refused_before_compiling():
    huge = {"learning_rate": lrscape.logspace(1e-3, 0.1, 10**6),
            "momentum": lrscape.linspace(0.0, 0.9, 10**6)}
    with CompileCounter() as compiles, pytest.raises(
            ValueError, match=r"would hold at least .* GB \(\d+ bytes for each of "
                              r"1,000,000,000,000 trajectories\), more than this machine's"):
        lrscape.sweep(VALLEY, "momentum", huge, steps=100, progress=False)
    assert compiles.count == 0


def test_a_generator_is_an_axis_as_any_iterable():
    kwargs = dict(steps=100, progress=False)
    listed = lrscape.sweep(VALLEY, "momentum", GRID, **kwargs)
    generated = lrscape.sweep(VALLEY, "momentum",
                              {"learning_rate": (v for v in [0.01, 0.02]),
                               "momentum": iter([0.5])}, **kwargs)
    xr.testing.assert_identical(generated, listed)


def test_a_start_whose_loss_overflows_float32_is_refused_and_leaves_no_store(tmp_path):
    far = lrscape.landscapes.get("quadratic", eigenvalues=[1.0], start=1e20)
    grid = {"learning_rate": [0.5, 1.0]}  # 1.0 reaches the minimum in one step
    path = tmp_path / "s.zarr"
    with pytest.raises(ValueError, match=r"the loss at the start is inf for 2 trajectories of "
                                         r"chunk 0 \(the first at learning_rate = 0.5\): its "
                                         r"start lies too far out for float32 .* run with "
                                         "dtype=float64"):
        lrscape.sweep(far, "sgd", grid, steps=100, progress=False, store=str(path))
    assert not path.exists()
    exact = lrscape.sweep(far, "sgd", grid, steps=100, progress=False, dtype="float64")
    assert exact.regime.values[1] == lrscape.Regime.MONOTONE and exact.converged.values[1]


# -- stores: refused before anything compiles ---------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "s.zarr"
    lrscape.sweep(VALLEY, "momentum", GRID, steps=100, progress=False, store=str(path))
    return path


def _other_version(path):
    group = zarr.open_group(str(path), mode="r+")
    group.attrs["lrscape_version"] = "0.0.1"
    zarr.consolidate_metadata(str(path))


def _without_checksums(path):
    for name in ("chunk_checksum", "chunk_nbytes"):
        shutil.rmtree(path / name)
    root = json.loads((path / "zarr.json").read_text())
    for name in ("chunk_checksum", "chunk_nbytes"):
        del root["consolidated_metadata"]["metadata"][name]
    (path / "zarr.json").write_text(json.dumps(root))


def _not_resumable(path):
    """As lrscape wrote stores before they could be resumed: no ``chunk_done``."""
    shutil.rmtree(path / "chunk_done")
    root = json.loads((path / "zarr.json").read_text())
    del root["consolidated_metadata"]["metadata"]["chunk_done"]
    (path / "zarr.json").write_text(json.dumps(root))


def _foreign(path):
    shutil.rmtree(path)
    xr.Dataset({"a": ("x", np.arange(3))}).to_zarr(str(path))


def _image(path):
    shutil.rmtree(path)
    xr.Dataset({"regime": (("a", "b"), np.zeros((2, 2), np.int8))},
               attrs={"lrscape_version": "0.3.0", "refined_by": "regime"}).to_zarr(str(path))


def _not_zarr(path):
    shutil.rmtree(path)
    path.mkdir()
    (path / "notes.txt").write_text("not a store")


@pytest.mark.filterwarnings("ignore:Consolidated metadata")  # the helpers' own writes
@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (None, {"grid": {**GRID, "momentum": [0.6]}},
         r"holds a different sweep \(differs in: coords\)"),
        (None, {"steps": 200}, r"holds a different sweep \(differs in: steps\)"),
        (_other_version, {}, r"was written by lrscape 0.0.1 .* whose numbers may differ"),
        (_without_checksums, {}, "was written by an lrscape without checksums"),
        (_not_resumable, {}, "was written by an lrscape without resumable stores"),
        (_foreign, {}, "exists and was not written by lrscape"),
        (_image, {}, "holds a refined image, not a sweep"),
        (_not_zarr, {}, r"exists and is not an lrscape results store \(its metadata cannot be "
                        r"read: zarr.json"),
    ],
)
def test_a_store_that_cannot_be_resumed_is_refused_before_compiling(finished, tmp_path, change,
                                                                    kwargs, message):
    path = tmp_path / "s.zarr"
    shutil.copytree(finished, path)
    if change is not None:
        change(path)
    args = {"grid": GRID, "steps": 100, **kwargs}
    with CompileCounter() as compiles, pytest.raises(ValueError, match=message):
        lrscape.sweep(VALLEY, "momentum", args.pop("grid"), progress=False, store=str(path),
                      **args)
    assert compiles.count == 0


# -- the command line: one line, exit status 2 ------------------------------------------------

CLI = ["sweep", "--lr", "0.01,0.02", "--axis", "momentum=0.5", "--steps", "100", "--plot", "",
       "--no-progress"]


@pytest.mark.parametrize(
    ("toml", "flags", "message"),
    [
        ("steps = 100.7", [], "`steps` must be an integer, got 100.7"),
        ("record_every = 2.5", [], "`record_every` must be an integer, got 2.5"),
        ("steps = [1, 2]", [], "`steps` must be an integer, got [1, 2]"),
        ('steps = "abc"', [], "`steps` must be an integer, got 'abc'"),
        ('grid = "abc"', [], "`grid` must be a table ([grid]), got 'abc'"),
        ("landscape_fields = 5", [], "`landscape_fields` must be a table ([landscape_fields]), "
                                     "got 5"),
        ("[grid]\nlearning_rate = true", [], "grid axis 'learning_rate': values must be "
                                             "numbers, got True"),
        (None, ["--lr", ""], "grid axis 'learning_rate' is empty"),
        (None, ["--axis", "momentum="], "grid axis 'momentum' is empty"),
        (None, ["--lr", "0.01,1e40"], "grid axis 'learning_rate' = 1e+40 overflows float32"),
        (None, ["--axis", "momentum=0.5,1e40"], "grid axis 'momentum' = 1e+40 overflows"),
        (None, ["--opt", "momentum=1e40", "--axis", "wall_curvature=100"],
         "the optimizer's 'momentum' = 1e+40 overflows float32"),
        (None, ["--schedule", "linear-warmup", "--axis", "warmup_steps=50,5000"],
         "grid axis 'warmup_steps' = 5000: LinearWarmup: `warmup_steps` = 5000.0 lies past"),
        (None, ["--steps", "4294967296", "--record-every", "4294967296"],
         "`steps` = 4,294,967,296 is more than a float32 run counts exactly"),
        (None, ["--steps", "1000000000", "--record-every", "1", "--dtype", "float64"],
         "1,000,000,000 record windows (`steps` = 1,000,000,000 / `record_every` = 1) take"),
        (None, ["--max-memory", "1"], "`max_memory` = 1 bytes is less than a compiled call"),
    ],
)
def test_a_bad_cli_setting_is_one_line_and_exit_status_2(tmp_path, capsys, toml, flags,
                                                         message):
    out = tmp_path / "x.zarr"
    argv = [*CLI, *flags, "--out", str(out)]
    if toml is not None:
        (tmp_path / "bad.toml").write_text(toml + "\n")
        argv += ["--config", str(tmp_path / "bad.toml")]
    if "--axis" in flags:  # its own axes replace the shared momentum axis
        argv[3:5] = []
    if toml is not None and "[grid]" in toml:  # its learning rates, not the flag's
        argv[1:3] = []
    with CompileCounter() as compiles:
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert compiles.count == 0 and not out.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [("x = 1\ndef broken(:\n    pass\n", "SyntaxError: invalid syntax ({}, line 2)"),
     ("x = 1\nraise RuntimeError('not ready')\n", "RuntimeError: not ready ({}, line 2)")],
)
def test_an_error_in_an_imported_file_is_one_line_with_its_file_and_line(tmp_path, capsys,
                                                                        source, message):
    module = tmp_path / "user_landscapes_broken.py"
    module.write_text(source)
    assert cli.main([*CLI, "--import", str(module), "--out", str(tmp_path / "x.zarr")]) == 2
    err = capsys.readouterr().err
    assert message.format(module) in err and err.count("\n") == 1 and "Traceback" not in err
    assert "user_landscapes_broken" not in sys.modules


@pytest.mark.xdist_group("ray")  # not beside test_ray's cluster, which "auto" would join
def test_a_ray_cluster_that_cannot_be_joined_leaves_no_store(tmp_path):
    pytest.importorskip("ray")
    from ray._private.services import find_gcs_addresses

    if find_gcs_addresses():
        pytest.skip("a Ray cluster runs on this machine: --address auto would join it")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path / "ray")  # no cluster of other tests to be found there
    out = tmp_path / "x.zarr"
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from lrscape.cli import main; sys.exit(main())",
         *CLI, "--executor", "ray", "--address", "auto", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2, result.stderr
    assert "`address` 'auto': no Ray cluster to join there" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
