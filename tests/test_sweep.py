"""plastix sweep: config validation, TrainState checkpoints, the PBT restore contract, and real
local Ray Tune runs (a 2-trial grid through the CLI, a 2-trial PBT with exploit steps).

The Ray tests share one local Ray session per module (num_cpus=2, no dashboard)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import sys

import jax
import numpy as np
import pytest

from plastix.cli import main
from plastix.errors import PlastixError
from plastix.sweep import build_trainer, load_state, parse_spec, require_ray, run_sweep, save_state, summarize, trial_history
from plastix.train.supervised import (
    SupervisedConfig,
    make_trainer,
    sample_batch,
    seed_keys,
    update_step,
)
from plastix.grads.base import batched_value_and_grad

FIXED = {"task": "adding", "core": "elman", "hidden": 3, "seq_len": 4, "batch_size": 2, "num_updates": 2,
         "updates_per_log": 1, "eval_batch_size": 3, "dtype": "float64"}
CFG = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=4, batch_size=3, lr=1e-2, num_updates=4,
                       updates_per_log=2, eval_batch_size=4, dtype="float64", clip_norm=1.0)


def raw(**over):
    base = {"trainer": "supervised", "fixed": dict(FIXED), "search": {"lr": {"grid": [0.01, 0.2]}}}
    return {**base, **over}


# ---------------------------------------------------------------- validation (no Ray)
def test_spec_defaults_and_domains():
    spec = parse_spec(raw())
    assert spec.mode == "min" and spec.metric == "charts/eval_metric" and spec.kind == "grid"
    assert spec.search == {"lr": ("grid", [0.01, 0.2])} and spec.seeds == (0,)
    accuracy = parse_spec(raw(fixed={**FIXED, "task": "temporal-order", "seq_len": 10}))
    assert accuracy.mode == "max"  # temporal-order reports accuracy: higher is better


def test_every_registered_algorithm_can_be_swept():
    """The sweep builds its trainers through the registry (plastix.algorithms): a tabular one too,
    with its score metric and direction."""
    from plastix.mdp.runner import GridConfig

    grid = {"task": "lecture-grid", "total_steps": 400, "log_every": 100}
    spec = parse_spec({"trainer": "sarsa", "fixed": {**grid, "algo": "sarsa"}, "search": {"lr": {"grid": [0.2, 0.5]}}})
    assert (spec.metric, spec.mode) == ("charts/episodic_return", "max")
    trainer = build_trainer("sarsa", {**grid, "algo": "sarsa", "lr": 0.2})
    assert trainer.setup.config == GridConfig(**grid, algo="sarsa", lr=0.2)
    states, metrics = stacked_run(trainer, [0, 1], 4)
    assert np.asarray(metrics["step"]).tolist() == [[100, 200, 300, 400]] * 2


@pytest.mark.parametrize("bad, message", [
    ({"trainer": "supervisd"}, "Did you mean 'supervised'"),
    ({"serch": {}}, "Did you mean 'search'"),
    ({"fixed": {**FIXED, "hiden": 4}}, "Did you mean 'hidden'"),
    ({"fixed": {**FIXED, "hidden": 0}}, "hidden must be a positive integer"),
    ({"search": {"lr": {"choice": [0.1]}}}, "kind 'grid' needs every search entry"),
    ({"search": {"lr": {"loguniform": [0.0, 1.0]}}, "scheduler": {"kind": "random"}}, "low > 0"),
    ({"search": {"lr": {"uniform": [1.0, 0.5]}}, "scheduler": {"kind": "random"}}, "low < high"),
    ({"search": {"lr": {"normal": [1.0]}}}, "unknown search domain"),
    ({"metric": "charts/eval_metrc"}, "Did you mean 'charts/eval_metric'"),
    ({"mode": "maximum"}, "unknown mode"),
    ({"scheduler": {"kind": "pbt"}}, "needs \\[scheduler.mutations\\]"),
    ({"scheduler": {"kind": "pbt", "quantile_fraction": 0.7, "mutations": {"lr": {"choice": [0.1]}}}},
     "quantile_fraction must lie in"),
    ({"seeds": []}, "seeds must be a non-empty list"),
])
def test_spec_errors_name_the_problem(bad, message):
    with pytest.raises(PlastixError, match=message):
        parse_spec(raw(**bad))


def test_config_files_and_missing_ray(tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text('trainer = "supervised"\n[fixed]\ntask = "adding"\ncore = "elman"\nhidden = 3\n'
                    'num_updates = 2\nupdates_per_log = 1\n[search]\nlr = { grid = [0.1, 0.2] }\n')
    from plastix.sweep import load_spec

    assert load_spec(path).search == {"lr": ("grid", [0.1, 0.2])}
    (tmp_path / "s.yaml").write_text("x")
    with pytest.raises(PlastixError, match=r"\.json or \.toml"):
        load_spec(tmp_path / "s.yaml")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(PlastixError, match=r"pip install 'plastix\[ray\]'"):
        require_ray()


# ---------------------------------------------------------------- checkpoints and the PBT contract
def stacked_run(trainer, seeds, num_logs):
    return jax.jit(jax.vmap(lambda key: trainer.run(trainer.init(key), num_logs)))(seed_keys(seeds))


@pytest.mark.slow
def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    states, _ = stacked_run(make_trainer(CFG), [0, 1], 1)
    save_state(tmp_path / "c", states, {"trial": "t1"})
    back, meta = load_state(tmp_path / "c", jax.eval_shape(jax.vmap(make_trainer(CFG).init), seed_keys([5, 6])))
    for a, b in zip(jax.tree.leaves(states), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert meta["trial"] == "t1"
    bigger = jax.eval_shape(jax.vmap(make_trainer(dataclasses.replace(CFG, hidden=5)).init), seed_keys([0, 1]))
    with pytest.raises(PlastixError, match=r"leaf .params.core.U in .* is float64\[2, 4, 2\].*expects float64\[2, 5, 2\]"):
        load_state(tmp_path / "c", bigger)
    with pytest.raises(PlastixError, match="missing or corrupt"):
        load_state(tmp_path / "nothing", bigger)


def adam_state(opt_state):
    """The ScaleByAdamState inside apply_if_finite(chain(clip, adam))."""
    return opt_state.inner_state[1][0]


def gradient(setup, state):
    """The gradient the next update sees: same batch key split as ``update_step``."""
    _, k_batch = jax.random.split(state.key)
    batch = sample_batch(setup, k_batch, setup.config.batch_size, setup.config.p_teacher)
    return batched_value_and_grad(setup.method, setup.model, state.params, batch)[1]


@pytest.mark.slow
def test_pbt_restore_continues_with_donor_state_and_new_lr(tmp_path):
    """A state saved by a trainer with lr 0.01 and restored into one built with lr 0.5: step
    counter and Adam moments are the donor's, and the next update is Adam with lr 0.5,
    computed here by hand in NumPy (Kingma & Ba 2015, Alg. 1, after global-norm clipping)."""
    donor_states, _ = stacked_run(make_trainer(CFG), [0, 1], 1)  # 2 updates each
    save_state(tmp_path, donor_states, {"trial": "donor"})
    new = make_trainer(dataclasses.replace(CFG, lr=0.5))
    restored, _ = load_state(tmp_path, jax.eval_shape(jax.vmap(new.init), seed_keys([7, 8])))
    assert np.asarray(restored.update).tolist() == [2, 2]
    assert np.asarray(adam_state(restored.opt_state).count).tolist() == [2, 2]
    for a, b in zip(jax.tree.leaves(adam_state(donor_states.opt_state)), jax.tree.leaves(adam_state(restored.opt_state)),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    s0 = jax.tree.map(lambda x: x[0], restored)
    after, _ = jax.jit(functools.partial(update_step, new.setup))(s0)
    grads = jax.jit(functools.partial(gradient, new.setup))(s0)
    g = [np.asarray(x) for x in jax.tree.leaves(grads)]
    norm = np.sqrt(sum(np.sum(x**2) for x in g))
    g = [x * min(1.0, CFG.clip_norm / norm) for x in g]
    adam = adam_state(s0.opt_state)
    t = 3
    for theta, mu, nu, gc, new_theta in zip(jax.tree.leaves(s0.params), jax.tree.leaves(adam.mu), jax.tree.leaves(adam.nu),
                                            g, jax.tree.leaves(after.params), strict=True):
        m = 0.9 * np.asarray(mu) + 0.1 * gc
        v = 0.999 * np.asarray(nu) + 0.001 * gc**2
        expected = np.asarray(theta) - 0.5 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        np.testing.assert_allclose(np.asarray(new_theta), expected, rtol=1e-10, atol=1e-13)
    assert int(after.update) == 3
    old_lr_after, _ = jax.jit(functools.partial(update_step, make_trainer(CFG).setup))(s0)
    assert not np.allclose(np.asarray(old_lr_after.params.core.W), np.asarray(after.params.core.W))


# ---------------------------------------------------------------- real Ray Tune runs
@pytest.fixture(scope="module")
def ray_session():
    ray, _ = require_ray()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield ray
    ray.shutdown()


def reference_metric(lr: float) -> float:
    """The last eval metric of seed 0 trained in this process with the same settings."""
    config = SupervisedConfig(**{**FIXED, "lr": lr})
    _, metrics = jax.jit(jax.vmap(make_trainer(config).train))(seed_keys([0]))
    return float(np.asarray(metrics["charts/eval_metric"])[0, -1])


def check_grid_sweep(tmp_path, capsys):
    """A 2-trial grid through the CLI: each trial's final metric equals training in this process."""
    tmp_path.mkdir()
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(raw(name="grid2")))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # --json: stdout is exactly one JSON object
    trials = sorted(summary["trials"], key=lambda t: t["config"]["lr"])
    assert [t["config"]["lr"] for t in trials] == [0.01, 0.2]
    for t in trials:
        assert t["error"] is None and t["update"] == 2 and t["iterations"] == 2
        np.testing.assert_allclose(t["metric"], reference_metric(t["config"]["lr"]), rtol=1e-12)
    best = min(trials, key=lambda t: t["metric"])
    assert summary["best"]["config"] == best["config"] and summary["mode"] == "min"
    with open(tmp_path / "out" / "trials.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(float(r["lr"]) for r in rows) == [0.01, 0.2]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["best"] == summary["best"]


def check_pbt_exploit(tmp_path):
    """2 trials (lr 0.01 and 0.2), quantile 0.5, a perturbation after the first report
    (synchronous): the worse trial restarts from the better one's checkpoint with a resampled
    lr and continues from the donor's update counter."""
    spec = parse_spec(raw(name="pbt2", scheduler={
        "kind": "pbt", "perturbation_interval": 1, "quantile_fraction": 0.5, "resample_probability": 1.0,
        "synch": True, "mutations": {"lr": {"choice": [0.003, 0.03]}}}))
    grid = run_sweep(spec, tmp_path / "ray")
    summary = summarize(spec, grid)
    assert len(summary["trials"]) == 2 and all(t["error"] is None for t in summary["trials"])
    assert all(t["update"] == 2 for t in summary["trials"]), summary["trials"]  # every trial ends at the budget
    ids = {t["trial_id"] for t in summary["trials"]}
    exploits = []
    for result in grid:
        history = trial_history(result)
        for prev, h in zip(history, history[1:]):
            if h["restored_from_trial"] not in ("", h["trial"]):
                exploits.append(h)
                assert h["restored_from_trial"] in ids
                assert h["update"] == h["restored_from_update"] + 1 == prev["update"] + 1
                assert h["config"]["lr"] in (0.003, 0.03)
    assert exploits, "no PBT exploit step happened"


@pytest.mark.slow
def test_ray_grid_sweep_and_pbt_exploit(ray_session, tmp_path, capsys):
    """Both Ray runs in ONE test, so the suite starts a single Ray even under pytest-xdist (two
    local Ray instances in two workers interfered: one's shutdown stopped the other's Tune run)."""
    check_grid_sweep(tmp_path / "grid", capsys)
    check_pbt_exploit(tmp_path / "pbt")
