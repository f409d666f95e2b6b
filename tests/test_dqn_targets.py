"""TD targets, losses and the dueling head of plastix.dqn against hand values and Python loops."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastix.dqn import (QNetwork, Step, bootstrap_values, dueling_aggregate, linear_schedule, n_step_target,
                         td_loss, window_targets)
from plastix.rl.returns import n_step_returns
from plastix.dqn.trainer import window_loss
from plastix.rl.agent import FeedForward


def loop_target(r, term, trunc, v, gamma, n):
    """Independent n-step target: add discounted rewards until an episode end or n rewards,
    then bootstrap (nothing after a termination; v of the true next state after a truncation)."""
    g, disc = 0.0, 1.0
    for k in range(n):
        g += disc * r[k]
        disc *= gamma
        if term[k]:
            return g
        if trunc[k] or k == n - 1:
            return g + disc * v[k]
    raise AssertionError


def test_n_step_target_hand_values():
    r = jnp.array([1.0, 2.0, 3.0])
    v = jnp.array([10.0, 20.0, 30.0])
    no = jnp.zeros(3, bool)
    at1 = jnp.array([False, True, False])
    g = 0.5
    # no episode end: 1 + .5·2 + .25·3 + .125·30 = 6.5
    assert float(n_step_target(r, no, no, v, g)) == pytest.approx(6.5)
    # terminated after the 2nd reward: 1 + .5·2, nothing bootstrapped
    assert float(n_step_target(r, at1, no, v, g)) == pytest.approx(2.0)
    # truncated after the 2nd reward: 1 + .5·2 + .25·v_1 (the true next state of that step)
    assert float(n_step_target(r, no, at1, v, g)) == pytest.approx(7.0)
    # both flags (Gymnasium allows it): termination wins, no bootstrap
    assert float(n_step_target(r, at1, at1, v, g)) == pytest.approx(2.0)
    # one-step DQN target y = r + γ max Q̂(s′): 1 + .5·10, and y = r at a terminal step
    assert float(n_step_target(r[:1], no[:1], no[:1], v[:1], g)) == pytest.approx(6.0)
    assert float(n_step_target(r[:1], at1[1:2], no[:1], v[:1], g)) == pytest.approx(1.0)


def test_n_step_target_without_episode_end_is_the_policy_gradient_n_step_return():
    # Same convention as plastix.rl.returns: v_t is the value of the state after step t.
    rng = np.random.default_rng(11)
    r, v = jnp.asarray(rng.normal(size=4)), jnp.asarray(rng.normal(size=4))
    no = jnp.zeros(4, bool)
    want = n_step_returns(r, jnp.full((4,), 0.9), v, 4)[0]  # Σ_k 0.9^k r_k + 0.9^4 v_3
    assert float(n_step_target(r, no, no, v, 0.9)) == pytest.approx(float(want), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_n_step_target_matches_python_loop(n):
    rng = np.random.default_rng(n)
    r, v = rng.normal(size=(40, n)), rng.normal(size=(40, n)) * 5
    term, trunc = rng.random((40, n)) < 0.25, rng.random((40, n)) < 0.25
    got = jax.jit(jax.vmap(n_step_target, in_axes=(0, 0, 0, 0, None)))(r, term, trunc, v, 0.9)
    want = [loop_target(r[i], term[i], trunc[i], v[i], 0.9, n) for i in range(40)]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10, atol=1e-12)


def test_window_targets_are_targets_of_each_position():
    rng = np.random.default_rng(0)
    length, n, first, count = 9, 3, 2, 5
    r, v = rng.normal(size=length), rng.normal(size=length)
    term, trunc = rng.random(length) < 0.2, rng.random(length) < 0.2
    got = window_targets(jnp.asarray(r), jnp.asarray(term), jnp.asarray(trunc), jnp.asarray(v), 0.95, first, count, n)
    want = [loop_target(r[j:], term[j:], trunc[j:], v[j:], 0.95, n) for j in range(first, first + count)]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-10)


def test_bootstrap_values_plain_and_double_by_hand():
    q_target = jnp.array([[1.0, 5.0], [3.0, 2.0]])
    q_online = jnp.array([[2.0, 1.0], [0.0, 4.0]])
    # dqn: max over the target network's values
    np.testing.assert_allclose(np.asarray(bootstrap_values(q_target, q_online, False)), [5.0, 3.0])
    # double: the online network picks (argmax 0, then 1), the target network evaluates
    np.testing.assert_allclose(np.asarray(bootstrap_values(q_target, q_online, True)), [1.0, 2.0])


def test_td_losses_and_their_gradients():
    delta = jnp.linspace(-3.0, 3.0, 13)
    # Huber with κ = 1 is optax's huber_loss; its gradient is δ clipped to [−1, 1] (Mnih et al. 2015)
    np.testing.assert_allclose(np.asarray(td_loss(delta, "huber")), np.asarray(optax.huber_loss(delta, delta=1.0)))
    grad = jax.vmap(jax.grad(lambda d: td_loss(d, "huber")))(delta)
    np.testing.assert_allclose(np.asarray(grad), np.clip(np.asarray(delta), -1, 1))
    np.testing.assert_allclose(np.asarray(td_loss(delta, "mse")), 0.5 * np.asarray(delta) ** 2)


def test_dueling_aggregation():
    v, a = jnp.asarray(2.0), jnp.array([1.0, 3.0, 5.0])
    # Q = V + A − mean A = 2 + [1, 3, 5] − 3
    np.testing.assert_allclose(np.asarray(dueling_aggregate(v, a)), [0.0, 2.0, 4.0])
    # identifiability: the mean of Q over actions is V, and shifting A by a constant changes nothing
    assert float(jnp.mean(dueling_aggregate(v, a))) == pytest.approx(2.0)
    np.testing.assert_allclose(np.asarray(dueling_aggregate(v, a + 7.0)), [0.0, 2.0, 4.0])


def test_linear_schedule():
    assert float(linear_schedule(1.0, 0.05, 100.0, 0)) == pytest.approx(1.0)
    assert float(linear_schedule(1.0, 0.05, 100.0, 50)) == pytest.approx(0.525)
    assert float(linear_schedule(1.0, 0.05, 100.0, 500)) == pytest.approx(0.05)


# ---------------------------------------------------------------- the whole window loss
def numpy_q(params, obs):
    """Q(o, ·) of a feed-forward plain-head network, in NumPy: W_q relu(W_1 tanh(W o + b) + b_1) + b_q."""
    core, head = params.core, params.advantage
    h = np.tanh(np.asarray(core.W) @ obs + np.asarray(core.b))
    z = np.maximum(np.asarray(head.hidden.V) @ h + np.asarray(head.hidden.c), 0.0)
    return np.asarray(head.out.V) @ z + np.asarray(head.out.c)


class FakeSetup:
    def __init__(self, config, network):
        self.config, self.network = config, network


@pytest.mark.parametrize("double", [False, True])
@pytest.mark.parametrize("n", [1, 3])
def test_window_loss_against_numpy(double, n):
    """The loss of one stored window: Q from the online θ, the target from θ⁻ at the TRUE next
    observation (terminal_obs), n-step cut at term/trunc, Huber — all recomputed in NumPy."""
    from plastix.dqn import DQNConfig

    d, a = 3, 2
    net = QNetwork(FeedForward(input_size=d, hidden_size=5, dtype="float64"), a, 4)
    params, target = net.init(jax.random.PRNGKey(0)), net.init(jax.random.PRNGKey(1))
    rng = np.random.default_rng(n)
    steps = Step(obs=rng.normal(size=(n, d)), action=rng.integers(0, a, n).astype(np.int32),
                 reward=rng.normal(size=n) * 3, terminated=np.array([False, True, False][:n]),
                 truncated=np.array([True, False, False][:n]) if n == 1 else np.array([False, False, True][:n]),
                 next_obs=rng.normal(size=(n, d)), start=np.zeros(n, bool))
    cfg = DQNConfig(n_step=n, double=double, gamma=0.9, learning_starts=10)
    fn = jax.jit(lambda p, t, s: window_loss(FakeSetup(cfg, net), p, t, s))
    loss, abs_td, q_mean = fn(params, target, jax.tree.map(jnp.asarray, steps))
    v = []
    for k in range(n):
        q_t, q_o = numpy_q(target, steps.next_obs[k]), numpy_q(params, steps.next_obs[k])
        v.append(q_t[np.argmax(q_o)] if double else np.max(q_t))
    g = loop_target(steps.reward, steps.terminated, steps.truncated, v, 0.9, n)
    q_sa = numpy_q(params, steps.obs[0])[steps.action[0]]
    delta = g - q_sa
    huber = 0.5 * delta**2 if abs(delta) <= 1 else abs(delta) - 0.5
    assert float(loss) == pytest.approx(huber, rel=1e-9)
    assert float(abs_td[0]) == pytest.approx(abs(delta), rel=1e-9)
    assert float(q_mean) == pytest.approx(q_sa, rel=1e-9)
