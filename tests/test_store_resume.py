"""The streaming store: chunks written as they finish, resumed after a kill, never mixed."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr
import zarr

import lrscape
from lrscape import chunks as chunks_mod
from lrscape import cli, plot
from lrscape import plan as plan_mod
from lrscape import store as store_mod
from lrscape.regimes import NOT_COMPUTED

VALLEY = lrscape.landscapes.get("narrow-valley", wall_curvature=50.0)
GRID = {"learning_rate": lrscape.logspace(1e-3, 0.1, 12), "momentum": [0.0, 0.5, 0.9]}


def _forget(path, chunks):
    """Make a store look as if the sweep was killed before ``chunks`` were written."""
    flat = xr.open_zarr(path).load()
    size = int(flat.attrs["chunk_size"])
    for c in chunks:
        region = slice(c * size, (c + 1) * size)
        nan = flat[["final_loss"]].isel(trajectory=region) * np.nan
        nan.to_zarr(path, region={"trajectory": region})
        xr.Dataset({"chunk_done": (("chunk",), np.zeros(1, np.int8))}).to_zarr(
            path, region={"chunk": slice(c, c + 1)})


def test_a_rerun_computes_only_the_missing_chunks(tmp_path, monkeypatch):
    path = str(tmp_path / "s.zarr")
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                         store=path)
    _forget(path, [1, 3])
    partial = lrscape.open(path)
    lost = partial.final_loss.values.reshape(-1)
    assert partial.attrs["complete"] == 0
    assert np.isnan(lost[8:16]).all() and np.isnan(lost[24:32]).all()
    computed = np.ones(36, bool)
    computed[8:16] = computed[24:32] = False
    np.testing.assert_array_equal(partial.computed.values.reshape(-1), computed)
    regime = partial.regime.values.reshape(-1)
    assert (regime[~computed] == NOT_COMPUTED).all()
    np.testing.assert_array_equal(regime[computed], full.regime.values.reshape(-1)[computed])
    assert partial.regime.attrs["flag_meanings"].split()[0] == "not_computed"
    part = lrscape.open(path, isel={"learning_rate": [2, 3], "momentum": [1, 2]})
    np.testing.assert_array_equal(part.computed, [[True, False], [False, False]])  # 7, 8, 10, 11
    xr.testing.assert_identical(part, partial.isel(learning_rate=[2, 3], momentum=[1, 2]))
    relabelled = lrscape.reclassify(partial, oscillation_threshold=0.3)
    assert (relabelled.regime.values.reshape(-1)[~computed] == NOT_COMPUTED).all()
    calls = []
    original = store_mod.ChunkStore.write
    monkeypatch.setattr(store_mod.ChunkStore, "write",
                        lambda self, c, *a: (calls.append(c), original(self, c, *a)))
    again = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                          store=path)
    assert calls == [1, 3]
    xr.testing.assert_identical(again, full)
    xr.testing.assert_identical(lrscape.open(path), full)
    assert "complete" not in lrscape.open(path).attrs


def test_a_resume_removes_the_files_of_writes_a_kill_left_unfinished(tmp_path):
    # zarr writes <name>.<uuid hex>.partial and renames it; a SIGKILL in between leaves it.
    path = tmp_path / "s.zarr"
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                         store=str(path))
    _forget(str(path), [2])
    leftovers = [path / f"zarr.{'a' * 32}.partial",
                 path / "loss_last" / "c" / f"2.{'0' * 32}.partial"]
    for leftover in leftovers:
        leftover.write_bytes(b"half a chunk")
    with warnings.catch_warnings():  # reading the store before the rerun: no notice about them
        warnings.simplefilter("error")
        assert lrscape.open(path).attrs["complete"] == 0
        with store_mod._quiet():
            list(zarr.open_group(str(path), mode="r", use_consolidated=False).members())
    keep = path / "notes.partial"  # not zarr's pattern: left alone
    keep.write_bytes(b"")
    with pytest.raises(ValueError, match="holds a different sweep"):
        lrscape.sweep(VALLEY, "momentum", GRID, steps=100, chunk_size=8, progress=False,
                      store=str(path))
    assert all(leftover.exists() for leftover in leftovers)  # not this sweep's store: untouched
    again = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                          store=str(path))
    assert not any(leftover.exists() for leftover in leftovers) and keep.exists()
    xr.testing.assert_identical(again, full)
    keep.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns about objects it does not recognise
        list(zarr.open_group(str(path), mode="r", use_consolidated=False).members())


def test_a_store_is_created_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "s.zarr"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the store's metadata is being written

    monkeypatch.setattr(store_mod.zarr, "consolidate_metadata", stopped)
    with pytest.raises(KeyboardInterrupt):
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                      store=str(path))
    assert list(tmp_path.iterdir()) == []  # no store to be mistaken for one, no leftovers
    monkeypatch.undo()
    again = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                          store=str(path))
    xr.testing.assert_identical(
        again, lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False))


def test_a_chunk_never_written_reads_as_fill_values(tmp_path, monkeypatch):
    path = str(tmp_path / "s.zarr")
    monkeypatch.setattr(store_mod.ChunkStore, "write", lambda *a: None)  # nothing arrives
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False, store=path)
    empty = lrscape.open(path)
    assert empty.attrs["complete"] == 0
    assert not empty.computed.values.any() and (empty.regime == NOT_COMPUTED).all()
    for name, var in empty.drop_vars(["computed", "regime"]).data_vars.items():
        fill = np.nan if np.issubdtype(var.dtype, np.floating) else 0
        np.testing.assert_array_equal(var.values, np.full(var.shape, fill, var.dtype), name)


def test_an_incomplete_store_is_drawn_with_what_it_lacks_in_grey(tmp_path, capsys):
    path = tmp_path / "s.zarr"
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                  store=str(path))
    _forget(str(path), [1, 3])
    partial = lrscape.open(path)
    ax = plot.phase_diagram(partial)
    shown = ax.collections[0].get_array()  # (momentum, learning_rate)
    np.testing.assert_array_equal(np.ma.getmaskarray(shown).reshape(3, 12),
                                  ~partial.computed.transpose("momentum", "learning_rate"))
    assert plot.NOT_COMPUTED_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    lost = {"learning_rate": GRID["learning_rate"][3], "momentum": 0.0}  # trajectory 9
    with pytest.raises(ValueError, match=r"points\[0\] = .* was not computed"):
        plot.loss_curves(partial, [lost])
    plt.close("all")
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "s.png")]) == 0
    assert f"{path} is incomplete: 56% of its trajectories" in capsys.readouterr().out


def test_an_interrupted_sweep_says_what_its_store_holds_and_resumes(tmp_path, monkeypatch):
    path = str(tmp_path / "s.zarr")
    original = store_mod.ChunkStore.write

    def stopped_at_the_third(self, index, *args):
        if index == 2:
            raise KeyboardInterrupt  # Ctrl-C, as a notebook's interrupt button sends it
        original(self, index, *args)

    monkeypatch.setattr(store_mod.ChunkStore, "write", stopped_at_the_third)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                      store=path)
    assert interrupted.value.__notes__ == [
        f"lrscape.sweep: 2 of 5 chunks are stored in {path!r}; the same call computes the "
        "other 3"]
    monkeypatch.undo()
    xr.testing.assert_identical(
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                      store=path),
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False))


def test_a_sweep_can_leave_its_records_in_the_store(tmp_path, monkeypatch):
    import importlib

    path = str(tmp_path / "s.zarr")
    # RAM for the 36 trajectories' summaries (38 bytes each), not for their records
    monkeypatch.setattr(importlib.import_module("lrscape.plan"), "machine_ram", lambda: 8135)
    kwargs = dict(steps=200, chunk_size=8, progress=False, max_memory="1MiB", store=path)
    lean = lrscape.sweep(VALLEY, "momentum", GRID, records=False, **kwargs)
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, max_memory="1MiB",
                         records=False)
    xr.testing.assert_identical(lean, full)
    monkeypatch.undo()
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False)
    xr.testing.assert_identical(lean, full.drop_vars(["loss_mean", "loss_last", "step"]))
    xr.testing.assert_identical(lrscape.open(path), full)  # the records are in the store
    _forget(path, [1])
    xr.testing.assert_identical(lrscape.sweep(VALLEY, "momentum", GRID, records=False,
                                              **kwargs), lean)  # resumed
    xr.testing.assert_identical(lrscape.open(path), full)
    # what a sweep keeps is what open reads without records, tails kept, curvature left out
    other = str(tmp_path / "t.zarr")
    tails = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=other,
                          records=False, keep_tail=True, curvature_every=50)
    assert "tail_loss" in tails and "sharpness" not in tails
    xr.testing.assert_identical(tails, lrscape.open(other, records=False))


def test_a_store_path_that_cannot_be_created_is_refused_before_anything_compiles(tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    path = tmp_path / "notes.txt" / "runs" / "s.zarr"
    with pytest.raises(ValueError, match=r"`store` .*s\.zarr' cannot be created: .*notes\.txt' "
                                         "is not a folder"):
        lrscape.sweep(VALLEY, "momentum", {"learning_rate": [0.01, 0.02], "momentum": [0.3]},
                      steps=130, record_every=13, store=str(path))
    assert not [k for k in chunks_mod._PROGRAMS if k[0].steps == 130]  # nothing compiled


def test_a_full_disk_ends_a_cli_sweep_with_one_line_and_what_is_stored(tmp_path, monkeypatch,
                                                                      capsys):
    original = store_mod.ChunkStore.write

    def disk_full_at_the_third(self, index, *args):
        if index == 2:
            raise OSError(28, "No space left on device")
        original(self, index, *args)

    monkeypatch.setattr(store_mod.ChunkStore, "write", disk_full_at_the_third)
    out = tmp_path / "s.zarr"
    code = cli.main(["sweep", "--lr", "1e-3:0.1:12:log", "--axis", "momentum=0,0.5,0.9",
                     "--steps", "200", "--chunk-size", "8", "--out", str(out), "--plot", "",
                     "--no-progress"])
    assert code == 1
    assert capsys.readouterr().err == (
        f"lrscape sweep: [Errno 28] No space left on device; 2 of 5 chunks are stored in "
        f"{out}; the same command computes the other 3\n")


_INTERRUPTED_WRITE = """
import asyncio, signal, threading
from lrscape import store
finished = []
async def write():
    await asyncio.sleep(0.5)
    finished.append(True)
main = threading.main_thread().ident
threading.Timer(0.1, signal.pthread_kill, (main, signal.SIGINT)).start()  # as Ctrl-C does
try:
    store._run_to_the_end(write())
except KeyboardInterrupt:
    print("interrupted", "after the write" if finished else "before the write ended")
"""


def test_ctrl_c_during_a_store_write_lets_the_write_finish():
    # in a process of its own: the KeyboardInterrupt goes to the main thread
    result = subprocess.run([sys.executable, "-c", _INTERRUPTED_WRITE], capture_output=True,
                            text=True, timeout=120)
    assert (result.stdout, result.stderr) == ("interrupted after the write\n", "")


def test_a_store_is_written_from_inside_a_running_event_loop(tmp_path):
    # as in a notebook, whose kernel runs an asyncio loop in the thread that runs the cells
    async def cell():
        return lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8,
                             progress=False, store=str(tmp_path / "s.zarr"))

    xr.testing.assert_identical(
        asyncio.run(cell()), lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False))


def test_a_resumed_store_keeps_its_chunk_size(tmp_path):
    path = str(tmp_path / "s.zarr")
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                         store=path)
    _forget(path, [0])
    again = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=32, progress=False,
                          store=path)
    xr.testing.assert_identical(again, full)


def test_a_different_sweep_into_the_store_is_refused(tmp_path):
    path = str(tmp_path / "s.zarr")
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, store=path)
    with pytest.raises(ValueError, match=r"holds a different sweep \(differs in: coords\)"):
        lrscape.sweep(VALLEY, "momentum", {**GRID, "momentum": [0.0, 0.6, 0.9]}, steps=200,
                      progress=False, store=path)
    with pytest.raises(ValueError, match="differs in: gradient_noise"):
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, gradient_noise=0.1,
                      progress=False, store=path)


def test_a_function_schedule_resumes_only_with_the_same_multipliers(tmp_path):
    path = str(tmp_path / "s.zarr")
    kwargs = dict(steps=200, chunk_size=8, progress=False, store=path)
    full = lrscape.sweep(VALLEY, "momentum", GRID, schedule=lambda t: 0.5 ** (t // 100),
                         **kwargs)
    # A new function object (as after a restart) with the same rates resumes the store ...
    again = lrscape.sweep(VALLEY, "momentum", GRID, schedule=lambda t: 0.5 ** (t // 100),
                          **kwargs)
    xr.testing.assert_identical(again, full)
    # ... one with other rates under the same name does not.
    with pytest.raises(ValueError, match="differs in: schedule_config"):
        lrscape.sweep(VALLEY, "momentum", GRID, schedule=lambda t: 0.5 ** (t // 50), **kwargs)


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
@pytest.mark.parametrize("key", ["lrscape_version", "jax_version"])
def test_a_store_from_another_version_is_not_resumed(tmp_path, key):
    path = str(tmp_path / "s.zarr")
    full = lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                         store=path)
    _forget(path, [1])
    group = zarr.open_group(path, mode="r+")
    group.attrs[key] = "0.0.1"
    zarr.consolidate_metadata(path)
    with pytest.raises(ValueError, match=r"written by .*0\.0\.1.*numbers may differ"):
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, chunk_size=8, progress=False,
                      store=path)
    kept = lrscape.open(path)  # still readable, and untouched by the refused sweep
    assert kept.attrs[key] == "0.0.1" and kept.attrs["complete"] == 0
    kept_loss, full_loss = kept.final_loss.values.ravel(), full.final_loss.values.ravel()
    assert np.isnan(kept_loss[8:16]).all()
    np.testing.assert_array_equal(np.delete(kept_loss, np.s_[8:16]),
                                  np.delete(full_loss, np.s_[8:16]))


def _done_chunks(path):
    try:
        # listed while the sweep writes: zarr's temporary files of writes in flight are seen
        with store_mod._quiet():
            return int(xr.open_zarr(path, consolidated=False)["chunk_done"].values.sum())
    except Exception:  # the store is being created or written
        return 0


def _cli_sweep(out):
    return [sys.executable, "-c", "import sys; from lrscape.cli import main; sys.exit(main())",
            "sweep", "--landscape", "narrow-valley", "--set", "wall_curvature=50",
            "--optimizer", "momentum", "--lr", "1e-3:0.1:16:log", "--axis",
            "momentum=0:0.9:16", "--steps", "40000", "--record-every", "4000",
            "--chunk-size", "16", "--out", str(out), "--plot", "", "--no-progress"]


@pytest.fixture(scope="module")
def uninterrupted_cli_store(tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "clean.zarr"
    result = subprocess.run(_cli_sweep(out), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return lrscape.open(out)


def _stop_after_two_chunks(out, sig):
    """Start the CLI sweep into ``out``, send ``sig`` once two chunks are stored."""
    process = subprocess.Popen(_cli_sweep(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.time() + 240
    while _done_chunks(out) < 2 and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, sig)
    _, stderr = process.communicate(timeout=60)
    done = _done_chunks(out)
    assert 2 <= done < 16, f"the signal came too late or too early: {done} of 16 chunks done"
    assert lrscape.open(out).attrs["complete"] == 0
    return process.returncode, stderr, done


def test_a_cli_sweep_killed_with_sigkill_resumes_to_the_same_store(tmp_path,
                                                                    uninterrupted_cli_store):
    killed = tmp_path / "killed.zarr"
    _stop_after_two_chunks(killed, signal.SIGKILL)
    result = subprocess.run(_cli_sweep(killed), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    xr.testing.assert_identical(lrscape.open(killed), uninterrupted_cli_store)


def test_ctrl_c_stops_a_cli_sweep_cleanly_and_says_how_to_resume(tmp_path,
                                                                 uninterrupted_cli_store):
    stopped = tmp_path / "stopped.zarr"
    returncode, stderr, done = _stop_after_two_chunks(stopped, signal.SIGINT)
    assert returncode == 130, stderr
    # one line, no traceback, nothing from zarr's or asyncio's threads
    assert stderr.endswith(f"lrscape sweep: interrupted; {done} of 16 chunks are stored in "
                           f"{stopped}; the same command computes the other {16 - done}\n")
    for noise in ("Traceback", "Task was destroyed", "did not finish", "Exception ignored"):
        assert noise not in stderr, stderr
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]
    result = subprocess.run(_cli_sweep(stopped), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    xr.testing.assert_identical(lrscape.open(stopped), uninterrupted_cli_store)


def test_the_memory_budget_sets_the_chunk_from_the_compiled_program(tmp_path):
    path = str(tmp_path / "m.zarr")
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 64), "momentum": [0.0, 0.5, 0.9, 0.99]}
    chunks_mod._PROGRAMS.clear()  # only this test's programs below, not other tests' shapes
    whole = lrscape.sweep(VALLEY, "momentum", grid, steps=200, progress=False)
    budget = 96 << 10
    small = lrscape.sweep(VALLEY, "momentum", grid, steps=200, progress=False,
                          max_memory="96KiB", store=path)
    xr.testing.assert_identical(small, whole)
    chunk = int(xr.open_zarr(path).attrs["chunk_size"])
    assert chunk < 256 and chunk % len(__import__("jax").devices()) == 0
    programs = [p for k, p in chunks_mod._PROGRAMS.items()
                if any(shape == (chunk,) for shape, *_ in k[2])]
    assert programs and all(plan_mod.program_bytes(p, 4) <= budget for p in programs)
    with pytest.raises(ValueError, match="`max_memory` must be .* got '4 parsecs'"):
        lrscape.sweep(VALLEY, "momentum", grid, max_memory="4 parsecs")
    # a budget not even the fewest trajectories fit in: refused, not exceeded
    with pytest.raises(ValueError, match=r"`max_memory` = 1,000 bytes is less than a compiled "
                                         r"call of the fewest trajectories \(16 on 4 device"):
        lrscape.sweep(VALLEY, "momentum", grid, max_memory="1kB", store=path + "-2")
    assert not os.path.exists(path + "-2")


def test_results_beyond_the_ram_are_refused_before_computed_or_read(tmp_path, monkeypatch):
    import importlib

    path = tmp_path / "s.zarr"
    # 36 trajectories x (66 bytes of summary + 20 record windows x 8 bytes) = 8,136 bytes
    monkeypatch.setattr(importlib.import_module("lrscape.plan"), "machine_ram", lambda: 8135)
    with pytest.raises(ValueError, match=r"would hold 0\.0 GB \(226 bytes for each of 36 "
                                         r"trajectories\), more than this machine's"):
        # a budget of its own: the default, a quarter of this RAM, is refused before compiling
        lrscape.sweep(VALLEY, "momentum", GRID, steps=200, store=str(path), max_memory="1MiB")
    assert not path.exists()
    monkeypatch.setattr(importlib.import_module("lrscape.plan"), "machine_ram", lambda: 8136)
    lrscape.sweep(VALLEY, "momentum", GRID, steps=200, progress=False, max_memory="1MiB",
                  store=str(path))
    # reading it back: refused too, pointing at the parts that fit
    monkeypatch.setattr(importlib.import_module("lrscape.store"), "machine_ram", lambda: 3000)
    with pytest.raises(ValueError, match=r"more than this machine's .* read what each "
                                         r"trajectory has once \(`records=False`\), a "
                                         r"sub-grid \(`isel`\), or the flat layout lazily"):
        lrscape.open(path)
    assert lrscape.open(path, records=False).regime.shape == (12, 3)
    assert lrscape.open(path, isel={"learning_rate": [0, 1]}).loss_mean.shape == (2, 3, 20)


def test_progress_counts_trajectories_including_resumed_chunks(tmp_path, capsys):
    import zarr

    path = str(tmp_path / "p.zarr")
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 64)}
    lrscape.sweep(VALLEY, "momentum", {**grid, "momentum": [0.9]}, steps=100, chunk_size=16,
                  progress=False, store=path)
    done = zarr.open_group(path)["chunk_done"]
    done[2:] = 0  # as if the sweep had been killed after two of its four chunks
    lrscape.sweep(VALLEY, "momentum", {**grid, "momentum": [0.9]}, steps=100, chunk_size=16,
                  progress=True, store=path)
    err = capsys.readouterr().err
    assert "32/64" in err and "64/64" in err and "traj/s" in err


def test_store_chunk_counts_whole_blocks_within_the_time():
    assert plan_mod.store_chunk(1024, 0.01, 10**6, seconds=0.5) == 50 * 1024
    assert plan_mod.store_chunk(1024, 2.0, 10**6, seconds=0.5) == 1024  # at least one block
    assert plan_mod.store_chunk(1024, 0.001, 3000, seconds=0.5) == 3 * 1024  # the grid's


def test_a_store_chunk_of_several_blocks_equals_the_sweep_and_resumes(tmp_path, monkeypatch):
    """With a store, a chunk spans several compiled blocks (a cheap landscape's block computes
    faster than a store write); the numbers are those of the sweep without a store, whose
    chunks are the blocks, and a rerun recomputes only a missing store chunk."""
    import importlib

    sweep_mod = importlib.import_module("lrscape.plan")
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 512),
            "momentum": lrscape.linspace(0.0, 0.9, 256)}
    path = str(tmp_path / "g.zarr")
    timed = []

    def four_blocks(block, seconds, total):
        timed.append((block, seconds))
        return 4 * block

    monkeypatch.setattr(sweep_mod, "store_chunk", four_blocks)
    plain = lrscape.sweep(VALLEY, "momentum", grid, steps=50, progress=False)
    assert not timed  # no store: nothing timed
    stored = lrscape.sweep(VALLEY, "momentum", grid, steps=50, progress=False, store=path)
    (block, seconds), = timed
    assert seconds > 0 and 512 * 256 >= plan_mod.MIN_BLOCKS_TIMED * block
    assert int(xr.open_zarr(path).attrs["chunk_size"]) == 4 * block
    xr.testing.assert_identical(stored, plain)
    _forget(path, [1])
    calls = []
    original = store_mod.ChunkStore.write
    monkeypatch.setattr(store_mod.ChunkStore, "write",
                        lambda self, c, *a: (calls.append(c), original(self, c, *a)))
    again = lrscape.sweep(VALLEY, "momentum", grid, steps=50, progress=False, store=path)
    assert calls == [1]
    xr.testing.assert_identical(again, plain)
