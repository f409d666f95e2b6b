"""Backpropamine's cue-reward association task (Miconi et al., ICLR 2019, §4.1).

Episode. Draw ``n_cues`` distinct random cues c_0..c_{n−1} ∈ {−1, +1}^{cue_bits} and one
rewarded cue index k* uniformly. The episode is a run of trials with no reset of the agent's
hidden state between them (only between episodes), and lasts ``episode_length`` = T steps
(120 in the released code, 200 in the paper); it is *truncated* at T, mid-trial if need be.
With ``fixed_cues`` the cues and k* are the same in every episode (drawn from ``cue_seed``).

Trial (our reading of the released code, ``--ni 4``): length L = n_shown + 3 + U{0..n−1}
with n_shown = n_cues // 2, i.e. L uniform in {5, 6, 7, 8} for 4 cues. Step 0 is blank;
steps 1..L−3 hold the n_shown cues (a random subset of the n_cues, each shown once, in random
order at random positions) and blanks; step L−2 is the Go signal; step L−1 is blank.

Actions: 0 = "the rewarded cue was not shown in this trial", 1 = "it was shown". At the Go
step the reward is +R if the answer is right and −R otherwise (R = ``reward_value`` = 1);
with probability ``flip_prob`` that Go reward is negated (released ``--pf``, default 0).
Every action 1, at any step, also costs ``response_penalty`` (released ``--wp``, default 0),
so with the defaults the reward is 0 at every non-Go step. The reward of step t is seen as
an input at step t + 1.

Observation, (cue_bits + 6,) float32 = 26 for 20-bit cues::

    [0, cue_bits)      the shown cue's ±1 bits, zeros on blank and Go steps
    cue_bits           Go bit
    cue_bits + 1       bias 1
    cue_bits + 2       t / T
    cue_bits + 3       previous reward r_{t−1} (0 at t = 0)
    cue_bits + 4, +5   previous action one-hot (zeros at t = 0)

(The released code has one more, always-zero input between t/T and the reward; dropped.)
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from plastix.envs.base import (
    OBS_DTYPE,
    Environment,
    check_probability,
    check_setting_int,
    is_last_step,
    meta_inputs,
)
from plastix.errors import PlastixError

BLANK = -1  # schedule code of a step with no cue; cue i is code i; Go is code n_cues
NO = 0
YES = 1


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class CueRewardParams:
    """Numeric parameters (vmappable).

    episode_length: T steps per episode; reward_value: R, ±R at Go; response_penalty: cost of
    action 1 at any step; flip_prob: probability that the Go reward is negated.
    """

    episode_length: int = 120
    reward_value: float = 1.0
    response_penalty: float = 0.0
    flip_prob: float = 0.0


class CueRewardState(NamedTuple):
    cues: jax.Array  # (n_cues, cue_bits) float32, entries ±1, rows distinct
    rewarded: jax.Array  # () int32, index k* of the rewarded cue
    schedule: jax.Array  # (max_trial_length,) int32 codes: BLANK, cue index, or Go = n_cues
    trial_length: jax.Array  # () int32, L
    trial_step: jax.Array  # () int32, position in the trial, 0..L−1
    t: jax.Array  # () int32, step in the episode, 0..T−1
    prev_reward: jax.Array  # () float32
    prev_action: jax.Array  # () int32, −1 at t = 0


@dataclasses.dataclass(frozen=True)
class CueReward(Environment):
    """Cue-reward association (see the module docstring). Final.

    Attributes:
      n_cues: number of cues per episode (>= 2); n_cues // 2 are shown per trial.
      cue_bits: bits per cue (>= 1, with 2**cue_bits >= n_cues so the cues can differ).
      fixed_cues: if True, every episode uses the same cues and rewarded cue, drawn from
        ``PRNGKey(cue_seed)`` (the trials are still random): the association is then learned
        once, across episodes, by the weights — the ``quick`` preset of the main job.
      cue_seed: seed of the fixed cues (>= 0).
    """

    n_cues: int = 4
    cue_bits: int = 20
    fixed_cues: bool = False  # True: the same cues and rewarded cue in every episode (preset "quick")
    cue_seed: int = 0  # the seed those fixed cues are drawn from

    name: ClassVar[str] = "cue-reward"
    params_class: ClassVar[type] = CueRewardParams
    PRESETS: ClassVar[dict] = {
        "default": {},  # released code: 4 cues of 20 bits, 120 steps
        "paper": {"episode_length": 200},  # Miconi et al. 2019: 200 steps
        "easy": {"n_cues": 2, "cue_bits": 4, "episode_length": 60},  # fewer, shorter cues
        # the main job: the released task with its cues and rewarded cue fixed for the whole
        # training, so there is no association to discover within an episode, only one to learn
        # across episodes (docs/rl-training.md: every preset with per-episode cues stays at
        # chance for at least 12,000 updates at small sizes)
        "quick": {"fixed_cues": True, "episode_length": 40},
    }

    def __post_init__(self):
        check_setting_int(self.name, "n_cues", self.n_cues, 2)
        check_setting_int(self.name, "cue_bits", self.cue_bits, 1)
        check_setting_int(self.name, "cue_seed", self.cue_seed, 0)
        if not isinstance(self.fixed_cues, bool):
            raise PlastixError(f"{self.name}: fixed_cues must be true or false, got {self.fixed_cues!r}.")
        if self.cue_bits < 63 and 2**self.cue_bits < self.n_cues:
            raise PlastixError(
                f"{self.name}: {self.n_cues} distinct cues need 2**cue_bits >= n_cues, got "
                f"cue_bits={self.cue_bits}."
            )

    # ------------------------------------------------------------ sizes
    @property
    def num_actions(self) -> int:
        return 2

    @property
    def observation_size(self) -> int:
        return self.cue_bits + 1 + 3 + self.num_actions

    @property
    def n_shown(self) -> int:
        """Cues shown per trial: n_cues // 2."""
        return self.n_cues // 2

    @property
    def min_trial_length(self) -> int:
        """Blank + n_shown cues + Go + blank: n_shown + 3 (5 for 4 cues)."""
        return self.n_shown + 3

    @property
    def max_trial_length(self) -> int:
        """n_shown + 3 + (n_cues − 1) (8 for 4 cues)."""
        return self.n_shown + 2 + self.n_cues

    def check_params(self, params):
        super().check_params(params)
        check_probability(self.name, "flip_prob", params.flip_prob)
        return params

    # ------------------------------------------------------------ dynamics
    def sample_cues(self, key: jax.Array) -> jax.Array:
        """n_cues distinct ±1 vectors, (n_cues, cue_bits): redraw the set until all differ."""

        def draw(k):
            bits = jax.random.bernoulli(k, 0.5, (self.n_cues, self.cue_bits))
            return jnp.where(bits, 1.0, -1.0).astype(OBS_DTYPE)

        def repeated(carry):
            cues = carry[1]
            same = jnp.all(cues[:, None, :] == cues[None, :, :], axis=-1)
            return jnp.sum(same) > self.n_cues  # only the diagonal may match

        def redraw(carry):
            k, _ = carry
            k, sub = jax.random.split(k)
            return k, draw(sub)

        k0, k1 = jax.random.split(key)
        return jax.lax.while_loop(repeated, redraw, (k0, draw(k1)))[1]

    def sample_trial(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(schedule (max_trial_length,) int32, L () int32) of one new trial."""
        k_len, k_pick, k_pos = jax.random.split(key, 3)
        L = jax.random.randint(
            k_len, (), self.min_trial_length, self.max_trial_length + 1, jnp.int32
        )
        shown = jax.random.permutation(k_pick, self.n_cues)[: self.n_shown].astype(jnp.int32)
        middle = self.max_trial_length - 3  # slots 1..L−3 can hold cues
        u = jax.random.uniform(k_pos, (middle,))
        u = jnp.where(jnp.arange(middle) < L - 3, u, 2.0)  # only the first L−3 slots qualify
        slots = jnp.argsort(u)[: self.n_shown]  # a uniform random subset of them
        schedule = jnp.full((self.max_trial_length,), BLANK, jnp.int32)
        schedule = schedule.at[1 + slots].set(shown).at[L - 2].set(self.n_cues)
        return schedule, L

    def observation(self, state: CueRewardState, params: CueRewardParams) -> jax.Array:
        code = state.schedule[state.trial_step]
        is_cue = (code >= 0) & (code < self.n_cues)
        cue = jnp.where(is_cue, state.cues[jnp.clip(code, 0, self.n_cues - 1)], 0.0)
        go = jnp.asarray(code == self.n_cues, OBS_DTYPE)[None]
        tail = meta_inputs(
            state.t, params.episode_length, state.prev_reward, state.prev_action, 2
        )
        return jnp.concatenate([cue.astype(OBS_DTYPE), go, tail])

    def reset_env(self, key, params):
        k_cues, k_rew, k_trial = jax.random.split(key, 3)
        if self.fixed_cues:  # the same draw in every episode, whatever the episode key
            k_cues, k_rew = jax.random.split(jax.random.PRNGKey(self.cue_seed))
        schedule, L = self.sample_trial(k_trial)
        state = CueRewardState(
            cues=self.sample_cues(k_cues),
            rewarded=jax.random.randint(k_rew, (), 0, self.n_cues, jnp.int32),
            schedule=schedule,
            trial_length=L,
            trial_step=jnp.zeros((), jnp.int32),
            t=jnp.zeros((), jnp.int32),
            prev_reward=jnp.zeros((), OBS_DTYPE),
            prev_action=jnp.full((), -1, jnp.int32),
        )
        return self.observation(state, params), state

    def go_reward(self, key, state: CueRewardState, action, params) -> jax.Array:
        """r_t = −penalty·[a = 1] + [Go step]·(±R, right/wrong, negated w.p. flip_prob)."""
        shown = jnp.any(state.schedule == state.rewarded)
        correct = (action == YES) == shown
        at_go = state.trial_step == state.trial_length - 2
        go = jnp.where(correct, params.reward_value, -params.reward_value)
        reward = jnp.where(at_go, go, 0.0) - params.response_penalty * (action == YES)
        flip = at_go & jax.random.bernoulli(key, params.flip_prob)
        return jnp.where(flip, -reward, reward).astype(OBS_DTYPE)

    def step_env(self, key, state, action, params):
        k_flip, k_trial = jax.random.split(key)
        reward = self.go_reward(k_flip, state, action, params)
        step = state.trial_step + 1
        new_trial = step >= state.trial_length
        schedule, L = self.sample_trial(k_trial)
        state = state._replace(
            schedule=jnp.where(new_trial, schedule, state.schedule),
            trial_length=jnp.where(new_trial, L, state.trial_length),
            trial_step=jnp.where(new_trial, 0, step).astype(jnp.int32),
            t=state.t + 1,
            prev_reward=reward,
            prev_action=action,
        )
        truncated = is_last_step(state.t, params.episode_length)
        return self.observation(state, params), state, reward, jnp.zeros((), bool), truncated
