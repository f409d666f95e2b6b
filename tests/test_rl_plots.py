"""Episode pictures of plastic agents (plastix.rl.plots): recorded traces, M(t), maze paths.

The recorded Hebbian trace, hidden state and neuromodulator are checked against an
independent NumPy loop over the recorded observations (the Backpropamine equations written
out again here); the maze path against the maze rules written out again here; the PNGs are
written through the real CLI.
"""

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

import plastix.cli as cli
from plastix.errors import PlastixError
from plastix.rl.plots import cue_events, record_episode, record_path
from plastix.rl.trainer import RLConfig, build_setup, collect_rollout
from plastix.runs import create_run_dir, save_params

PNG = b"\x89PNG\r\n\x1a\n"
T = 16


def cue_setup(core, **options):
    config = RLConfig(task="cue-reward", preset="easy", env_settings=(("episode_length", T),), core=core,
                      core_options=tuple(options.items()), hidden=5, dtype="float64")
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(3))
    # larger plasticity coefficients than the init so that the trace shapes h_t visibly
    params = params._replace(core=params.core._replace(alpha=params.core.alpha * 60.0))
    return setup, params


def numpy_reference(p, obs, kind):
    """h_t, Hebb after step t, M_t by the equations of Miconi et al. 2019 in a Python loop."""
    W_in, W, alpha, eta, b = (np.asarray(a, float) for a in (p.W_in, p.W, p.alpha, p.eta, p.b))
    n = W.shape[0]
    h, hebb, E = np.zeros(n), np.zeros((n, n)), np.zeros((n, n))
    hs, hebbs, Ms = [], [], []
    for x in np.asarray(obs, float):
        h_new = np.tanh(W_in @ x + (W + alpha * hebb) @ h + b)
        M = np.nan
        if kind == "plastic":  # clip rule, fixed learned η
            hebb = np.clip(hebb + eta * np.outer(h_new, h), -1, 1)
        else:
            M = np.tanh(np.dot(np.asarray(p.w_M), h_new) + float(p.b_M))
            if kind == "simple":
                hebb = np.clip(hebb + M * np.outer(h_new, h), -1, 1)
            else:  # retroactive: Hebb uses the eligibility trace E_t, then E is updated
                hebb = np.clip(hebb + M * E, -1, 1)
                E = (1 - eta) * E + eta * np.outer(h_new, h)
        h = h_new
        hs.append(h)
        hebbs.append(hebb.copy())
        Ms.append(M)
    return np.array(hs), np.array(hebbs), np.array(Ms)


@pytest.mark.parametrize("core,options,kind", [
    pytest.param("neuromod-rnn", {"modulation": "retroactive"}, "retroactive", marks=pytest.mark.slow),
    ("neuromod-rnn", {"modulation": "simple"}, "simple"),
    ("plastic-rnn", {}, "plastic"),
])
def test_recorded_trace_and_modulator_equal_a_numpy_loop(core, options, kind):
    setup, params = cue_setup(core, **options)
    key = jax.random.PRNGKey(11)
    record = jax.jit(lambda p, k: record_episode(setup, p, k))(params, key)
    rate = 1.0 / (1.0 + np.exp(-float(params.core.eta))) if getattr(setup.agent.core, "eta_param", "raw") == "sigmoid" \
        else float(params.core.eta)  # η = sigmoid(θ) (neuromod-rnn's default) or θ
    h, hebb, M = numpy_reference(params.core._replace(eta=rate), record.obs, kind)
    np.testing.assert_allclose(np.asarray(record.h), h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(record.hebb), hebb, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(record.modulator), M, rtol=0, atol=1e-12)  # NaN where not modulated
    assert np.max(np.abs(hebb[-1])) > 1e-3  # the trace really moved
    if kind != "retroactive":
        return
    # the episode is the trainer's: same key -> same actions, and the logits come from the recorded h_t
    _, ro = collect_rollout(setup, params, key, T)
    np.testing.assert_array_equal(np.asarray(record.action), np.asarray(ro.action))
    logits = h @ np.asarray(params.policy.V).T + np.asarray(params.policy.c)
    np.testing.assert_allclose(np.asarray(ro.logits), logits, rtol=0, atol=1e-12)


def test_cue_events_match_the_observations():
    setup, params = cue_setup("neuromod-rnn")
    record = record_episode(setup, params, jax.random.PRNGKey(5))
    events = cue_events(setup.env, record.env_state)
    obs = np.asarray(record.obs)
    bits = setup.env.cue_bits
    shown = np.flatnonzero(np.any(obs[:, :bits] != 0, axis=1))
    np.testing.assert_array_equal(np.sort(np.concatenate([events["cue"], events["rewarded cue"]])), shown)
    np.testing.assert_array_equal(events["Go"], np.flatnonzero(obs[:, bits] == 1))
    # a rewarded-cue step shows exactly the episode's rewarded cue
    cues, k = np.asarray(record.env_state.cues[0]), int(record.env_state.rewarded[0])
    for t in events["rewarded cue"]:
        np.testing.assert_array_equal(obs[t, :bits], cues[k])
    # the Go reward is ±1 exactly on Go steps (easy preset: no response penalty)
    np.testing.assert_array_equal(np.flatnonzero(np.asarray(record.reward) != 0), events["Go"])


def maze_walls(size):
    """The maze rules again: border, pillars at even (row, col), free centre."""
    n = size + 2
    walls = np.array([[r in (0, n - 1) or c in (0, n - 1) or (r % 2 == 0 and c % 2 == 0) for c in range(n)]
                      for r in range(n)])
    walls[n // 2, n // 2] = False
    return walls


@pytest.mark.slow
def test_maze_path_stays_on_free_cells_and_follows_the_actions():
    config = RLConfig(task="meta-maze", preset="easy", core="elman", hidden=4, dtype="float64")
    setup = build_setup(config)
    params = setup.agent.init(jax.random.PRNGKey(0))
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    pos, act, rew, cell = jax.jit(jax.vmap(lambda k: record_path(setup, params, k)))(keys)
    pos, act, rew, cell = map(np.asarray, (pos, act, rew, cell))
    walls = maze_walls(5)
    moves = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}
    blocked = teleports = 0
    for e in range(len(keys)):
        assert tuple(pos[e, 0]) == (3, 3)  # starts at the centre
        assert not walls[cell[e][0], cell[e][1]] and tuple(cell[e]) != (3, 3)
        for t in range(pos.shape[1]):
            r, c = pos[e, t]
            assert not walls[r, c]
            target = (r + moves[int(act[e, t])][0], c + moves[int(act[e, t])][1])
            hit = target == tuple(cell[e])
            assert rew[e, t] == (10.0 if hit else 0.0)
            if t + 1 == pos.shape[1]:
                break
            nxt = tuple(pos[e, t + 1])
            if hit:  # teleported to a free cell other than the reward cell
                teleports += 1
                assert nxt != tuple(cell[e])
            elif walls[target]:
                blocked += 1
                assert nxt == (r, c)
            else:
                assert nxt == target
    assert blocked > 0 and teleports > 0  # both rules were exercised
    # same key, same actions as the trainer's rollout
    _, ro = collect_rollout(setup, params, keys[0], setup.num_steps)
    np.testing.assert_array_equal(np.asarray(ro.action), act[0])


def make_run(path, config, seeds=2):
    """A run directory as ``plastix train`` writes it (config.json with the resolved RLConfig,
    params.npz stacked over seeds), with untrained parameters: no training needed here."""
    run_dir = create_run_dir(str(path), "unused", {"args": {}, "resolved": dataclasses.asdict(config)},
                             list(range(seeds)))
    setup = build_setup(config)
    params = [setup.agent.init(jax.random.PRNGKey(s)) for s in range(seeds)]
    save_params(run_dir, jax.tree_util.tree_map(lambda *a: np.stack(a), *params))
    return run_dir


@pytest.mark.slow
def test_cli_writes_trace_and_path_pictures(tmp_path, capsys):
    small = dict(env_settings=(("episode_length", 8),), hidden=4)
    cue = make_run(tmp_path / "cue", RLConfig(task="cue-reward", preset="easy", **small))
    maze = make_run(tmp_path / "maze", RLConfig(task="meta-maze", preset="easy", core="plastic-rnn", **small))
    rnn = make_run(tmp_path / "rnn", RLConfig(task="cue-reward", preset="easy", core="elman", **small))
    assert cli.main(["plot", str(cue), "--trace", "--seed-index", "1"]) == 0
    assert cli.main(["plot", str(maze), "--trace", "--path"]) == 0
    for png in (cue / "trace.png", maze / "trace.png", maze / "path.png"):
        assert png.read_bytes()[:8] == PNG
    assert "path.png" in capsys.readouterr().out
    for argv, message in ((["plot", str(rnn), "--trace"], "no Hebbian trace"),
                          (["plot", str(cue), "--path"], "meta-maze"),
                          (["plot", str(cue), "--trace"], "already exists"),
                          (["plot", str(maze), "--path", "--seed-index", "2"], "seed index")):
        assert cli.main(argv) != 0
        assert message in capsys.readouterr().err


def test_record_episode_rejects_a_core_without_trace():
    setup = build_setup(dataclasses.replace(RLConfig(), core="elman", hidden=3, preset="easy"))
    with pytest.raises(PlastixError, match="no Hebbian trace"):
        record_episode(setup, setup.agent.init(jax.random.PRNGKey(0)), jax.random.PRNGKey(0))


def test_summarize_final_median_and_episodes_to_reach_it():
    from plastix.rl.plots import summarize

    i = np.arange(20)
    returns = np.stack([np.minimum(i, 10) + 0.1 * s for s in range(4)]).astype(float)  # ramp, plateau at 10
    out = summarize(30 * (i + 1), returns, tail=0.1)  # k = 2 log points
    # by hand: per-seed means of the last 2 points 10 + 0.1 s -> median 10.15; first 2: 0.5 + 0.1 s -> 0.65;
    # 90 % of the gain: 0.65 + 0.9 · 9.5 = 9.2; trailing 2-point mean of the median curve is i − 0.35 for
    # i <= 10, first >= 9.2 at i = 10, i.e. 30 · 11 = 330 episodes
    assert out["final_median"] == pytest.approx(10.15) and out["first_median"] == pytest.approx(0.65)
    assert out["final_iqr"] == pytest.approx(0.15) and out["episodes_to_90pct_gain"] == 330
    flat = np.random.default_rng(0).normal(0.0, 1.0, (4, 20))  # no gain beyond the seeds' spread
    assert summarize(30 * (i + 1), flat)["episodes_to_90pct_gain"] is None


def test_run_label_names_the_core_and_t_only_when_the_run_has_one():
    """Legend labels of ``plastix plot``: a sequence task's T, none for an RL run (no "T=None")."""
    from plastix.cli.plot import run_label

    rl = {"config": {"resolved": {"core": "neuromod-rnn", "seq_len": None}}}
    seq = {"config": {"resolved": {"core": "lstm", "seq_len": 50}}}
    assert run_label(Path("runs/retroactive"), rl) == "neuromod-rnn (retroactive)"
    assert run_label(Path("runs/a"), seq) == "lstm T=50 (a)"
