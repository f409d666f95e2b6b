"""Test-wide JAX settings: float64 available everywhere (cores take explicit dtypes), and
implicit rank promotion raises, as in equinox's test suite, to catch broadcasting bugs.

Compiled programs go to a persistent cache under .pytest_cache/ shared by the xdist workers and
by the subprocesses the tests start (they inherit the environment variables): many tests build
the same small trainers, and a program compiled once is then loaded, not compiled again. A
cached executable is the one XLA would compile again (same program, flags and CPU), so results
are unchanged; delete the folder to measure a cold run.
"""

import os
from pathlib import Path

import jax

CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
