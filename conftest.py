"""Test-session set-up shared by tests/ and the doctests in src/.

XLA reads the CPU device count when its backend starts, so it is set here, before anything
imports JAX: four CPU devices, so every sweep in the suite is really sharded.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("MPLBACKEND", "Agg")
