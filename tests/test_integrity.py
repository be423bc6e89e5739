"""Nothing on disk silently wrong: every damaged chunk of a store is flagged by ``open``, named
by ``verify`` and recomputed by a rerun; writers of one store never hurt each other."""

import json
import os
import shutil
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr

import lrscape
from lrscape import cli
from lrscape import store as store_mod
from lrscape._integrity import Layout
from lrscape.regimes import NOT_COMPUTED
from lrscape.store import IntegrityWarning

VALLEY = lrscape.landscapes.get("narrow-valley", wall_curvature=50.0)
GRID = {"learning_rate": lrscape.logspace(1e-3, 0.1, 12), "momentum": [0.0, 0.5, 0.9]}
KWARGS = dict(steps=200, chunk_size=8, progress=False)  # 36 trajectories: 5 chunks of 8


def _sweep(path, **kwargs):
    return lrscape.sweep(VALLEY, "momentum", GRID, store=str(path), **KWARGS, **kwargs)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A finished store, and the Dataset its sweep returned."""
    path = tmp_path_factory.mktemp("clean") / "clean.zarr"
    return path, _sweep(path)


def _copy(clean, tmp_path):
    path = tmp_path / "s.zarr"
    shutil.copytree(clean[0], path)
    return path


def _flip(file):
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))


def _truncate(file):
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def _garbage(file):
    file.write_bytes(b"\xff" * file.stat().st_size)  # the size written, not a zstd frame


# (what is done, the file, the chunks damaged); chunk c holds trajectories 8c .. 8c + 7
DAMAGE = {
    "delete": (os.remove, "regime/c/2", [2]),
    "delete a chunk equal to the fill value": (os.remove, "period/c/3", [3]),
    "truncate": (_truncate, "final_loss/c/1", [1]),
    "flip a byte": (_flip, "loss_mean/c/3/0", [3]),
    "undecodable": (_garbage, "regime/c/4", [4]),
    "remove a variable": (shutil.rmtree, "period", [0, 1, 2, 3, 4]),
    "lose a checksum record": (os.remove, "chunk_checksum/c/1/0", [1]),
    "an undecodable completion mark": (_garbage, "chunk_done/c/3", [3]),
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_is_flagged_by_open_named_by_verify_and_repaired_by_a_rerun(
        kind, clean, tmp_path, monkeypatch, capsys):
    damage, file, chunks = DAMAGE[kind]
    path = _copy(clean, tmp_path)
    damage(path / file)
    # open: the damaged chunks read as not computed, with one warning naming them
    with pytest.warns(IntegrityWarning) as caught:
        ds = lrscape.open(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{len(chunks)} damaged chunk(s) read as not computed" in message
    assert file.split("/")[0] + "/c/" in message and "lrscape verify" in message
    lost = np.zeros(36, bool)
    for c in chunks:
        lost[8 * c: 8 * c + 8] = True
    assert ds.attrs["complete"] == 0
    np.testing.assert_array_equal(ds.computed.values.ravel(), ~lost)
    assert (ds.regime.values.ravel()[lost] == NOT_COMPUTED).all()
    assert np.isnan(ds.final_loss.values.ravel()[lost]).all()
    full = clean[1]
    for name in ("regime", "final_loss", "loss_mean", "period"):
        np.testing.assert_array_equal(ds[name].values.reshape(36, -1)[~lost],
                                      full[name].values.reshape(36, -1)[~lost], name)
    # verify: names the chunks and the file, and the CLI exits non-zero
    report = store_mod.verify(path)
    assert not report.ok and list(report.damaged_chunks) == chunks
    assert any(d.file.startswith(file) for d in report.damage)
    assert cli.main(["verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{len(chunks)} of 5 chunk(s) damaged" in out and file.split("/")[0] in out
    # a rerun recomputes exactly the damaged chunks and ends equal to the clean store
    written = []
    original = store_mod.ChunkStore.write
    monkeypatch.setattr(store_mod.ChunkStore, "write",
                        lambda self, c, *a: (written.append(c), original(self, c, *a)))
    with pytest.warns(IntegrityWarning, match="found: computing them again"):
        again = _sweep(path)
    assert sorted(written) == chunks
    xr.testing.assert_identical(again, full)
    # bit for bit: every chunk's checksums (of its values' raw bytes) are the clean store's
    np.testing.assert_array_equal(_checksums(path), _checksums(clean[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.testing.assert_identical(lrscape.open(path), full)
    assert store_mod.verify(path).ok


def _checksums(path):
    return zarr.open_group(str(path), mode="r")["chunk_checksum"][...]


def test_every_chunk_file_is_written_also_when_it_equals_the_fill_value(clean):
    path = clean[0]
    layout = Layout.read(str(path))
    period = clean[1].period.values.ravel()
    assert (period[16:24] == 0).all()  # chunk 2's periods are the fill value, 0
    for name in layout.variables:
        for c in range(5):
            assert (path / layout.chunk_file(name, c)).exists(), (name, c)
    # a plain xarray reader sees the store as before, and the records as variables of their own
    flat = xr.open_zarr(path)
    assert flat.sizes["trajectory"] == 36 and flat.chunk_checksum.shape == (5, 20)
    assert flat.chunk_checksum.attrs["variables"] == layout.variables


def test_a_lost_coordinate_or_metadata_document_is_named_and_rewritten(clean, tmp_path):
    path = _copy(clean, tmp_path)
    shutil.rmtree(path / "momentum")
    (path / "regime" / "zarr.json").unlink()
    with pytest.raises(ValueError, match=r"the grid's coordinates are damaged \(momentum/c/0: "
                                         r"missing\); rerun its sweep"):
        lrscape.open(path)
    files = {d.file for d in store_mod.verify(path).damage}
    assert {"momentum/c/0", "momentum/zarr.json", "regime/zarr.json"} <= files
    # a damaged coordinate does not make the same sweep look like another one
    xr.testing.assert_identical(_sweep(path), clean[1])
    assert store_mod.verify(path).ok
    xr.testing.assert_identical(lrscape.open(path), clean[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every array is found without the consolidated metadata
        group = zarr.open_group(str(path), mode="r", use_consolidated=False)
        assert {"regime", "momentum"} <= {name for name, _ in group.members()}


def test_a_sub_grid_read_checks_the_chunks_it_touches(clean, tmp_path):
    path = _copy(clean, tmp_path)
    _flip(path / "loss_mean" / "c" / "1" / "0")  # trajectories 8 .. 15: learning rates 2 .. 4
    with pytest.warns(IntegrityWarning, match="loss_mean/c/1/0: checksum differs"):
        part = lrscape.open(path, isel={"learning_rate": [3, 9]})
    np.testing.assert_array_equal(part.computed.values, [[False] * 3, [True] * 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # records left out: the flipped chunk is not read
        lean = lrscape.open(path, records=False)
    assert "computed" not in lean


def test_an_undecodable_chunk_is_named_by_plot_and_repaired_by_the_cli(clean, tmp_path,
                                                                       capsys):
    path = tmp_path / "s.zarr"
    args = ["--landscape", "narrow-valley", "--set", "wall_curvature=50", "--optimizer",
            "momentum", "--lr", "1e-3:0.1:12:log", "--axis", "momentum=0,0.5,0.9", "--steps",
            "200", "--chunk-size", "8", "--out", str(path), "--plot", "", "--no-progress"]
    assert cli.main(["sweep", *args]) == 0
    capsys.readouterr()
    _truncate(path / "final_loss" / "c" / "2")
    assert cli.main(["plot", str(path), "--out", str(tmp_path / "s.png")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "final_loss/c/2: truncated" in err and "Traceback" not in err
    _garbage(path / "regime" / "c" / "3")  # of the size written: only decoding tells
    assert cli.main(["sweep", *args]) == 0
    err = capsys.readouterr().err
    assert "2 damaged chunk(s) found: computing them again" in err and "Traceback" not in err
    assert "final_loss/c/2: truncated" in err and "regime/c/3: undecodable" in err
    assert store_mod.verify(path).ok


def _legacy(path):
    """Make a store look like one of lrscape 0.3: no chunk records but ``chunk_done``."""
    for name in ("chunk_checksum", "chunk_nbytes"):
        shutil.rmtree(path / name)
    root = json.loads((path / "zarr.json").read_text())
    for name in ("chunk_checksum", "chunk_nbytes"):
        del root["consolidated_metadata"]["metadata"][name]
    (path / "zarr.json").write_text(json.dumps(root))


def test_a_store_without_checksums_is_read_but_said_unverifiable(clean, tmp_path, capsys):
    path = _copy(clean, tmp_path)
    _legacy(path)
    with pytest.warns(IntegrityWarning, match="without checksums: a chunk file lost or altered"):
        xr.testing.assert_identical(lrscape.open(path), clean[1])
    report = store_mod.verify(path)
    assert not report.verifiable and not report.ok
    assert cli.main(["verify", str(path)]) == 1
    assert "cannot be verified: written by lrscape" in capsys.readouterr().out
    with pytest.raises(ValueError, match="without checksums .* cannot be checked before they "
                                         "are resumed"):
        _sweep(path)


def test_verify_refuses_what_is_not_a_store(tmp_path, capsys):
    assert cli.main(["verify", str(tmp_path / "none.zarr")]) == 2
    assert "no results store at" in capsys.readouterr().err
    assert cli.main(["verify", str(tmp_path)]) == 2
    assert "is not an lrscape results store" in capsys.readouterr().err


# -- writers of one store ----------------------------------------------------------------------

_HOLD = """
import sys, time
from lrscape.store import ChunkStore
store = ChunkStore(sys.argv[1])
assert store.claim(int(sys.argv[2]))
print("claimed", flush=True)
time.sleep(float(sys.argv[3]))
"""


def test_a_resuming_writer_leaves_another_process_its_chunk_and_its_files(clean, tmp_path):
    path = _copy(clean, tmp_path)
    zarr.open_group(str(path), mode="r+")["chunk_done"][2:4] = 0  # chunks 2 and 3 not written
    in_flight = path / "loss_last" / "c" / f"2.{'0' * 32}.partial"  # the other's write
    left = path / "loss_last" / "c" / f"3.{'1' * 32}.partial"  # a killed writer's
    for file in (in_flight, left):
        file.write_bytes(b"half a chunk")
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(path), "2", "4"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "claimed\n"
        begun = time.monotonic()
        writer = store_mod.ChunkStore(path)
        writer._remove_partial_writes(Layout.read(str(path)))
        assert in_flight.exists() and not left.exists()  # only the unclaimed chunk's
        assert not writer.claim(2) and writer.claim(3)
        writer.release()
        # the same sweep, resumed beside it: waits for chunk 2, then computes it
        ds = _sweep(path)
        assert time.monotonic() - begun > 2, "the sweep did not wait for the held chunk"
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert not in_flight.exists()  # removed once the chunk was this process's
    xr.testing.assert_identical(ds, clean[1])
    xr.testing.assert_identical(lrscape.open(path), clean[1])


_LOGGED = """
import sys
from lrscape import store
from lrscape.cli import main
original = store.ChunkStore.write
def write(self, index, *args):
    original(self, index, *args)
    with open(sys.argv[1], "a") as log:
        log.write(f"{index}\\n")
store.ChunkStore.write = write
sys.exit(main(sys.argv[2:]))
"""


def _cli(out, log, steps):
    return [sys.executable, "-c", _LOGGED, str(log), "sweep", "--landscape", "narrow-valley",
            "--set", "wall_curvature=50.0", "--optimizer", "momentum", "--lr", "1e-3:0.1:16:log",
            "--axis", "momentum=0:0.9:16", "--steps", str(steps), "--record-every",
            str(steps // 10), "--chunk-size", "16", "--out", str(out), "--plot", "",
            "--no-progress"]


def _done(path):
    try:
        with store_mod._quiet():
            return int(zarr.open_group(str(path), mode="r")["chunk_done"][...].sum())
    except Exception:  # not created yet
        return 0


def _two_writers(tmp_path, steps):
    """A CLI sweep, and the same command started once it has stored two chunks: both end
    well, no chunk is computed twice, and the store is the sweep's."""
    out = tmp_path / "s.zarr"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    first = subprocess.Popen(_cli(out, logs[0], steps), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _done(out) < 2 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run(_cli(out, logs[1], steps), capture_output=True, text=True,
                            timeout=600)
    _, first_err = first.communicate(timeout=600)
    assert (first.returncode, second.returncode) == (0, 0), (first_err, second.stderr)
    wrote = [[int(line) for line in log.read_text().split()] if log.exists() else []
             for log in logs]
    assert sorted(wrote[0] + wrote[1]) == list(range(16))  # every chunk once
    assert store_mod.verify(out).ok
    expected = lrscape.sweep(VALLEY, "momentum", {
        "learning_rate": lrscape.logspace(1e-3, 0.1, 16),
        "momentum": lrscape.linspace(0.0, 0.9, 16)}, steps=steps, record_every=steps // 10,
        progress=False)
    xr.testing.assert_identical(lrscape.open(out), expected)
    return wrote


def test_a_resuming_writer_beside_a_running_one_shares_the_sweep(tmp_path):
    # chunks of about 0.3 s: the second starts while the first still computes (which of the
    # two computes the last chunks depends on the machine's load; the slow test below makes
    # sure that both do)
    _two_writers(tmp_path, 400_000)


@pytest.mark.slow
def test_two_writers_of_a_long_sweep_both_compute_chunks(tmp_path):
    first, second = _two_writers(tmp_path, 2_000_000)  # chunks of about 2 s
    assert first and second, "the second process computed no chunk"
