"""a2c and reinforce solve CartPole: trained on plastix's ``cartpole`` (preset v0, T = 200),
evaluated on Gymnasium's own CartPole-v1 (an independent implementation, time limit 200).

"Solved" is Gymnasium/OpenAI Gym's criterion for CartPole-v0: a mean return >= 195 over 100
consecutive episodes. Here: 100 fresh episodes, actions SAMPLED from the trained policy (not
argmax), the return of each environment's first episode. Budget per test: ``num_updates``
updates of B = 32 episodes of 200 steps (<= 400 × 32 × 200 ≈ 2.6 M environment steps), seed 0.
Measured when written (jax 0.10.2, CPU): every case scored 200.0 (all 100 episodes reached the
time limit); untrained policies score ~20. REINFORCE here uses the batch-mean baseline: with
the "value" baseline it is the same loss as a2c (Monte-Carlo returns minus the learned v_t).
"""

import jax
import numpy as np
import pytest

from plastix.envs import HostVecEnv, make_env
from plastix.rl.host_loop import collect_host
from plastix.rl.trainer import RLConfig, make_trainer

COMMON = dict(task="cartpole", preset="v0", hidden=32, batch_size=32, clip_norm=1.0)
CASES = {
    # name: config settings (gamma 0.99 and value_coef 0.5 unless given)
    "a2c-mlp": dict(algo="a2c", core="mlp", lr=1e-2, entropy_coef=0.0, num_updates=300),
    "reinforce-mlp": dict(algo="reinforce", baseline="batch-mean", core="mlp", lr=1e-2, entropy_coef=0.0,
                          num_updates=150),
    # with a constant step size the recurrent a2c policy oscillates between ~150 and 200 late in
    # training (on one CPU seed 0 ended at 84, on another at 200); decaying it to 0 settles it
    # (seeds 0, 1, 3, 4 measured at 200, 198.6, 197.0, 200 on an AMD EPYC, 2 cores)
    "a2c-elman": dict(algo="a2c", core="elman", lr=5e-3, lr_end=0.0, gamma=0.95, value_coef=0.02,
                      entropy_coef=0.01, num_updates=400),
    "reinforce-elman": dict(algo="reinforce", baseline="batch-mean", core="elman", lr=1e-2,
                            entropy_coef=0.0, num_updates=300),
}


def first_episode_returns(done_bt: np.ndarray, reward_bt: np.ndarray) -> np.ndarray:
    """Σ r_t up to and including each row's first done (the whole row if none), (B,)."""
    out = []
    for done, reward in zip(done_bt, reward_bt, strict=True):
        ends = np.flatnonzero(done)
        stop = ends[0] + 1 if ends.size else len(done)
        out.append(reward[:stop].sum())
    return np.asarray(out)


def gymnasium_score(setup, params, episodes: int = 100, seed: int = 1000) -> float:
    """Mean first-episode return of the sampled policy on Gymnasium's CartPole-v1 (T = 200)."""
    env, env_params = make_env("gymnasium:CartPole-v1", episode_length=200)
    vec = HostVecEnv(env, env_params, episodes)
    try:
        ro = collect_host(setup, params, vec, jax.random.key(seed), seed=seed)
    finally:
        vec.close()
    return float(first_episode_returns(np.asarray(ro.done), np.asarray(ro.reward)).mean())


@pytest.mark.learning
@pytest.mark.parametrize("case", sorted(CASES))
def test_policy_gradient_solves_cartpole(case):
    case_settings = {"gamma": 0.99, "value_coef": 0.5, **CASES[case]}
    config = RLConfig(**COMMON, **case_settings, updates_per_log=case_settings["num_updates"] // 10)
    trainer = make_trainer(config)
    initial = trainer.init(jax.random.PRNGKey(0))
    assert gymnasium_score(trainer.setup, initial.params) < 50  # untrained: ~20 steps per episode
    state, _ = jax.jit(lambda s: trainer.run(s, config.num_logs))(initial)
    assert int(state.update) == config.num_updates
    score = gymnasium_score(trainer.setup, state.params)
    assert score >= 195.0, f"{case}: mean return {score} over 100 Gymnasium episodes"
