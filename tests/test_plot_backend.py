"""The library's plotting functions leave matplotlib's backend and pyplot alone: they build
``matplotlib.figure.Figure`` objects and save them, so a notebook keeps its inline backend.

Run in a fresh interpreter with MPLBACKEND=svg: a ``matplotlib.use("Agg")`` anywhere in the
library would switch the backend to agg, and any pyplot use would import ``matplotlib.pyplot``."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
import matplotlib

out = Path(sys.argv[1])
before = matplotlib.get_backend()
from plastix.grads.influence import plot_influence
from plastix.plot import plot_runs
from plastix.rl.plots import plot_path, plot_variants

plot_influence({"a": np.geomspace(1.0, 1e-40, 12)}, str(out / "influence.png"))
rows = [{"step": s, "seed": k, "m": float(s + k)} for s in (1, 2, 3) for k in (0, 1)]
plot_runs([("run", rows)], ["m"], out / "runs.png")
plot_variants({"v": (np.arange(4), np.arange(8.0).reshape(2, 4))}, out / "variants.png", chance=0.0)
layout = np.zeros((3, 3))
plot_path(layout, [(0, 0), (0, 1), (1, 1)], [1, 2, 0], np.array([0.0, 1.0, 0.0]), (1, 1), out / "path.png")
print(before, matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules)
"""


@pytest.mark.slow
def test_plots_keep_the_backend_and_never_import_pyplot(tmp_path):
    env = {**os.environ, "MPLBACKEND": "svg", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before, after, pyplot = done.stdout.split()
    assert (before, after, pyplot) == ("svg", "svg", "False")
    for name in ("influence", "runs", "variants", "path"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000, name
