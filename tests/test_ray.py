"""The Ray executor on a real local Ray instance: the same store as the local executor, also
when a worker is killed mid-sweep, with the user's own landscapes (defined where the workers
cannot import them), and the CLI joining an existing cluster with --address."""

import os
import signal
import subprocess
import sys
import threading
import time

import jax.numpy as jnp
import pytest
import ray
import xarray as xr

import lrscape
from lrscape import cli
from lrscape.executors import RayExecutor

# One Ray instance per test session: under pytest-xdist every test here runs in the same worker.
# Starting Ray (and the CLI) goes through ``subprocess``, which forks and at once executes a new
# program; JAX's warning that a fork may deadlock its threads does not apply to that.
pytestmark = [
    pytest.mark.xdist_group("ray"),
    pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning"),
]

VALLEY = lrscape.landscapes.get("narrow-valley")
GRID = {"learning_rate": lrscape.logspace(1e-3, 0.1, 64), "momentum": [0.0, 0.5, 0.9, 0.99]}


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance: two worker CPUs, a small object store, no dashboard."""
    ray.init(num_cpus=2, object_store_memory=80 << 20, include_dashboard=False,
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("local") / "local.zarr")
    lrscape.sweep(VALLEY, "momentum", GRID, steps=400, chunk_size=16, progress=False,
                  store=path)
    return path


def _task_processes() -> list[int]:
    """Ray workers now running a chunk (Ray titles a busy worker after its task)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        if title.startswith(b"ray::_compute_chunk"):
            pids.append(int(entry))
    return pids


def test_ray_executor_gives_the_local_store(cluster, local_store, tmp_path, capsys):
    path = str(tmp_path / "ray.zarr")
    ds = lrscape.sweep(VALLEY, "momentum", GRID, steps=400, chunk_size=16, progress=True,
                       store=path, executor="ray")
    assert "256/256" in capsys.readouterr().err  # progress counts trajectories across tasks
    xr.testing.assert_identical(lrscape.open(path), lrscape.open(local_store))
    xr.testing.assert_identical(ds, lrscape.open(local_store))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds workers in /proc")
def test_a_worker_killed_mid_sweep_is_retried_and_the_store_is_unchanged(
        cluster, local_store, tmp_path):
    path = str(tmp_path / "killed.zarr")
    killed: list[int] = []

    def kill_one_worker() -> None:
        # Once a chunk is in the store, SIGKILL a worker in the middle of another.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            done = os.path.join(path, "chunk_done", "c")
            busy = _task_processes()
            if os.path.isdir(done) and os.listdir(done) and busy:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
            time.sleep(0.005)

    killer = threading.Thread(target=kill_one_worker)
    killer.start()
    ds = lrscape.sweep(VALLEY, "momentum", GRID, steps=400, chunk_size=16, progress=False,
                       store=path, executor=RayExecutor(max_retries=3))
    killer.join()
    assert killed, "no worker was running a chunk to kill"
    xr.testing.assert_identical(lrscape.open(path), lrscape.open(local_store))
    xr.testing.assert_identical(ds, lrscape.open(local_store))


def test_cli_joins_an_existing_cluster_with_address(cluster, local_store, tmp_path):
    out = str(tmp_path / "cli.zarr")
    command = [sys.executable, "-c", "import sys; from lrscape.cli import main; sys.exit(main())",
               "sweep", "--landscape", "narrow-valley",
               "--optimizer", "momentum", "--lr", "1e-3:0.1:64:log",
               "--axis", "momentum=0,0.5,0.9,0.99", "--steps", "400", "--chunk-size", "16",
               "--out", out, "--plot", "", "--executor", "ray", "--address", cluster]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    xr.testing.assert_identical(lrscape.open(out), lrscape.open(local_store))


def test_ray_tasks_compute_store_chunks_of_several_blocks(cluster, tmp_path, monkeypatch):
    """A store chunk that spans several compiled blocks (see ``plan.store_chunk``) is one
    task, which computes its blocks on the worker's devices."""
    import importlib

    monkeypatch.setattr(importlib.import_module("lrscape.plan"), "store_chunk",
                        lambda block, seconds, total: 4 * block)
    grid = {"learning_rate": lrscape.logspace(1e-3, 0.1, 512),
            "momentum": lrscape.linspace(0.0, 0.9, 256)}
    plain = lrscape.sweep(VALLEY, "momentum", grid, steps=20, progress=False)
    path = str(tmp_path / "blocks.zarr")
    on_ray = lrscape.sweep(VALLEY, "momentum", grid, steps=20, progress=False, store=path,
                           executor="ray")
    assert int(xr.open_zarr(path).attrs["chunk_size"]) < 512 * 256
    xr.testing.assert_identical(on_ray, plain)
    xr.testing.assert_identical(lrscape.open(path), plain)


def test_a_landscape_defined_in_a_notebook_runs_on_the_workers(cluster, user_registry):
    """A class the workers cannot import by name (one defined in a notebook, here in a
    function) reaches them as code, and is still a pytree there."""

    @user_registry("ray-notebook-bowl")
    class Bowl(lrscape.landscapes.Landscape):
        """f(x) = a x_0^2 / 2 + x_1^2 / 2."""

        a: float = 10.0

        def loss(self, x):
            return 0.5 * self.a * x[0] ** 2 + 0.5 * x[1] ** 2

        def init(self, key):
            return jnp.ones(2)

    grid = {"learning_rate": lrscape.logspace(0.05, 1.5, 32), "a": [2.0, 5.0]}
    local = lrscape.sweep(Bowl(), "sgd", grid, steps=100, chunk_size=16, progress=False)
    on_ray = lrscape.sweep(Bowl(), "sgd", grid, steps=100, chunk_size=16, progress=False,
                           executor="ray")
    xr.testing.assert_identical(on_ray, local)
    assert (on_ray.regime == lrscape.Regime.DIVERGED).any()


def test_cli_ships_an_imported_landscape_file_to_the_workers(
        cluster, tmp_path, user_registry, monkeypatch):
    """``--import plugins/bowls.py``: the workers, which cannot import ``bowls``, get its code
    with the job."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "ray_cli_bowls.py").write_text(
        "import jax.numpy as jnp\nimport lrscape\n\n\n"
        "@lrscape.landscapes.register('ray-cli-bowl')\n"
        "class Bowl(lrscape.landscapes.Landscape):\n"
        "    a: float = 10.0\n\n"
        "    def loss(self, x):\n"
        "        return 0.5 * self.a * x[0] ** 2 + 0.5 * x[1] ** 2\n\n"
        "    def init(self, key):\n"
        "        return jnp.ones(2)\n")
    argv = ["sweep", "--import", "plugins/ray_cli_bowls.py", "--landscape", "ray-cli-bowl",
            "--optimizer", "sgd", "--lr", "0.05:1.5:32:log", "--axis", "a=2,5",
            "--steps", "100", "--chunk-size", "16", "--plot", ""]
    command = [sys.executable, "-c", "import sys; from lrscape.cli import main; sys.exit(main())"]
    result = subprocess.run([*command, *argv, "--out", "ray.zarr", "--executor", "ray",
                             "--address", cluster], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # the same sweep here, locally (the module and its landscape forgotten afterwards)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "ray_cli_bowls", raising=False)
    assert cli.main([*argv, "--out", "local.zarr"]) == 0
    xr.testing.assert_identical(lrscape.open(tmp_path / "ray.zarr"),
                                lrscape.open(tmp_path / "local.zarr"))
    assert (lrscape.open(tmp_path / "ray.zarr").regime == lrscape.Regime.DIVERGED).any()


@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "dask"}, "`executor` must be 'local', 'ray' or an executor, got 'dask'"),
])
def test_an_unknown_executor_is_refused_before_compiling(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lrscape.sweep(VALLEY, "sgd", {"learning_rate": [0.1]}, **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_gpus": -1}, "`num_gpus` must be a finite number >= 0, got -1"),
    ({"max_retries": 1.5}, "`max_retries` must be an integer >= 0, got 1.5"),
    ({"address": ""}, "`address` must be a Ray address string, got ''"),
    ({"by_value": ["my_module"]}, "`by_value` must hold imported modules, got 'my_module'"),
])
def test_bad_ray_executor_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RayExecutor(**kwargs)


def test_a_worker_with_other_versions_refuses_its_chunk(cluster):
    """A node with another lrscape or jax could compute different numbers into the store."""
    from lrscape.executors import _compute_chunk

    task = ray.remote(_compute_chunk).options(max_retries=0, retry_exceptions=False)
    driver = {"lrscape_version": "0.0.1", "jax_version": "0.0.2"}
    with pytest.raises(RuntimeError, match=r"worker runs lrscape .* the driver lrscape 0\.0\.1 "
                                           r"with jax 0\.0\.2; install the same versions"):
        ray.get(task.remote(None, None, 0, None, True, driver))
