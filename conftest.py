"""Test-session set-up shared by tests/ and the doctests in src/.

XLA reads the CPU device count when its backend starts, so it is set here, before anything
imports JAX: four CPU devices, so every sweep in the suite is really sharded.

Most of the suite's time is XLA compiling, and many tests compile the same programs in other
processes (the other pytest worker, the command line run as a subprocess, Ray's workers). JAX's
persistent compilation cache, in ``.pytest_cache/jax`` and passed on to those processes by the
environment, compiles each program once: a program read from it is the one compiled, so no
result changes. ``LRSCAPE_TEST_CACHE=0`` turns it off.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("LRSCAPE_TEST_CACHE", "1") != "0":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       ".pytest_cache", "jax"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
