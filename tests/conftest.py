"""Test-wide JAX settings: float64 available everywhere (cores take explicit dtypes), and
implicit rank promotion raises, as in equinox's test suite, to catch broadcasting bugs.

Compiled programs go to a persistent cache under .pytest_cache/ shared by the xdist workers and
by the subprocesses the tests start (they inherit the environment variables): many tests build
the same small trainers, and a program compiled once is then loaded, not compiled again. A
cached executable is the one XLA would compile again (same program, flags and CPU), so results
are unchanged; delete the folder to measure a cold run.

Tiers (pyproject.toml): plain `pytest` deselects the `learning` and `slow` tests; a run whose every
test was deselected that way (say `pytest tests/test_dqn_flags.py`) ends with exit code 0 and a
note, not pytest's 5 ("no tests collected"), and `bash scripts/test.sh` runs both tiers.
"""

import os
from pathlib import Path

import jax
import pytest

CACHE = Path(__file__).resolve().parent.parent / ".pytest_cache" / "jax-compilation-cache"
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs",
                  float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]))
jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")


FAST_TIER = "not learning and not slow"  # the -m of pyproject.toml's addopts


def pytest_sessionfinish(session, exitstatus):
    """Only the tier filter left nothing to run: say how to run those tests instead of failing."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and session.config.option.markexpr == FAST_TIER:
        session.exitstatus = pytest.ExitCode.OK
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f'every selected test is in the learning/slow tier (-m "{FAST_TIER}"); '
                                'run them with -m "" or -m learning')
