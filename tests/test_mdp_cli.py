"""`plastix solve`, the grid branch of `plastix train`, and grid pictures."""

import json

import numpy as np
import pytest

from plastix.cli.args import TrainArgs
from plastix.cli.solve import SolveArgs
from plastix.errors import PlastixError
from plastix.mdp import make_grid, policy_iteration, value_iteration
from plastix.mdp.plots import plot_grid_curves, plot_grid_run
from plastix.runs import read_metrics


def _solve_json(capsys, *args, **kwargs):
    assert SolveArgs(*args, json=True, **kwargs).run() == 0
    return json.loads(capsys.readouterr().out)


def test_solve_json_is_laid_out_as_the_grid(capsys):
    out = _solve_json(capsys, "aima-4x3")
    assert set(out) == {"values", "policy", "iterations", "residual"}
    task = make_grid("aima-4x3")
    vi = value_iteration(task.mdp, tol=1e-8)
    assert out["iterations"] == int(vi.iterations) and out["residual"] == pytest.approx(float(vi.residual))
    assert out["values"][1][1] is None and out["policy"][1][1] is None  # the wall
    assert out["values"][0][3] == 1.0 and out["policy"][0][3] is None  # the +1 final cell
    assert out["values"][2][0] == pytest.approx(0.705, abs=5e-4)  # R&N fig. 17.3
    # R&N fig. 17.2 (R = -0.04): the optimal policy, rows top to bottom
    assert out["policy"] == [["E", "E", "E", None], ["N", None, "N", None], ["N", "W", "W", "W"]]


def test_solve_policy_iteration_agrees_and_gamma_is_applied(capsys):
    vi = _solve_json(capsys, "lecture-grid", gamma=0.5)
    pi = _solve_json(capsys, "lecture-grid", gamma=0.5, method="policy-iteration")
    np.testing.assert_allclose(np.array(vi["values"], float), np.array(pi["values"], float), atol=1e-8)
    want = policy_iteration(make_grid("lecture-grid", 0.5).mdp).values
    assert vi["values"][0][0] == pytest.approx(float(want[0]), abs=1e-8)
    assert vi["policy"] == pi["policy"]


def test_solve_text_shows_utilities_and_arrows(capsys):
    assert SolveArgs("cliff-walking").run() == 0
    text = capsys.readouterr().out
    assert "-13.000" in text and "→" in text and "■" in text and "#" in text


@pytest.mark.parametrize("kwargs, message", [({"method": "sarsa"}, "unknown method"),
                                             ({"gamma": 1.5}, "gamma must be in"),
                                             ({"tol": 0.0}, "--tol must be")])
def test_solve_rejects_bad_flags(kwargs, message):
    with pytest.raises(PlastixError, match=message):
        SolveArgs("lecture-grid", **kwargs).run()


@pytest.mark.slow
def test_grid_training_writes_a_run_directory_and_pictures(tmp_path):
    out = tmp_path / "run"
    args = TrainArgs(task="lecture-grid", algo="q-learning", total_steps=3000, seeds=3, seed=5,
                     out=str(out), quiet=True)
    assert args.run() == 0
    rows = read_metrics(out)
    assert len(rows) == 3 * 50 and {r["seed"] for r in rows} == {5.0, 6.0, 7.0}
    assert {"charts/episodic_return", "charts/greedy_return", "losses/td_error"} <= set(rows[0])
    q = np.load(out / "q_table.npy")
    assert q.shape == (3, 6, 4)
    # the learned greedy action at the start is the planned one (E, towards the +10 cell)
    assert int(np.argmax(q.mean(0)[0])) == int(value_iteration(make_grid("lecture-grid").mdp).policy[0])
    assert (out / "policy.png").stat().st_size > 0 and (out / "curves.png").stat().st_size > 0
    sarsa = tmp_path / "sarsa"
    TrainArgs(task="lecture-grid", algo="sarsa", total_steps=1000, out=str(sarsa), quiet=True, no_plot=True).run()
    assert not (sarsa / "policy.png").exists()
    paths = plot_grid_run(sarsa)
    assert all(p.exists() for p in paths)
    both = plot_grid_curves([out, sarsa], tmp_path / "both.png")
    assert both.stat().st_size > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"task": "adding"}, "use --algo supervised"), ({"algo": "a2c"}, "is a grid task: use --algo q-learning or sarsa"),
    ({"lr": 2.0}, "step size"), ({"epsilon": -0.1}, "epsilon"), ({"seeds": 0}, "seeds must be"),
    ({"total_steps": 1000, "log_every": 300}, "must divide"), ({"gamma": 0.0}, "gamma must be"),
])
def test_grid_training_rejects_bad_arguments(tmp_path, kwargs, message):
    base = {"task": "lecture-grid", "algo": "q-learning", "out": str(tmp_path / "r"), "quiet": True}
    with pytest.raises(PlastixError, match=message):
        TrainArgs(**{**base, **kwargs}).run()
