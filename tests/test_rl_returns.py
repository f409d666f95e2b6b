"""Returns and advantages (plastix.rl.returns) against plain Python loops written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.rl import (
    discount_from_done,
    discounted_returns,
    episode_cumsum,
    episode_returns,
    gae_advantages,
    lambda_returns,
    n_step_returns,
    reward_to_go,
    td_errors,
)

T = 9
# Three episodes in one trajectory: steps 0-2, 3-6, 7-8 (the last one is cut, not ended).
DONE = np.array([0, 0, 1, 0, 0, 0, 1, 0, 0], bool)


def _data(seed=0):
    """r (T,) and the values v(s_0) … v(s_T) (T+1,): the library takes v_tm1 = v[:-1], v_t = v[1:]."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=T), rng.normal(size=T + 1)


def loop_returns(r, disc, boot):
    g, out = boot, np.zeros(len(r))
    for t in reversed(range(len(r))):
        g = r[t] + disc[t] * g
        out[t] = g
    return out


def loop_episode_returns(r, done, gamma):
    out, start = np.zeros(len(r)), 0
    for t in range(len(r)):
        if done[t] or t == len(r) - 1:
            total = sum(gamma ** k * r[start + k] for k in range(t - start + 1))
            out[start:t + 1] = total
            start = t + 1
    return out


def test_discounted_returns_equals_python_loop_across_episode_boundaries():
    r, v = _data()
    disc = np.where(DONE, 0.0, 0.95)
    got = discounted_returns(jnp.asarray(r), jnp.asarray(disc), v[-1])
    np.testing.assert_allclose(got, loop_returns(r, disc, v[-1]), rtol=1e-12)
    # Hand check at an episode end: G_2 = r_2 (discount_2 = 0), G_1 = r_1 + 0.95 r_2.
    np.testing.assert_allclose(got[2], r[2], rtol=1e-12)
    np.testing.assert_allclose(got[1], r[1] + 0.95 * r[2], rtol=1e-12)


def test_backpropamine_monte_carlo_returns_gamma_0_9():
    # Miconi et al. 2019 code: R = 0.9 R + r_t, backwards from R = 0 over a fixed-length episode.
    r = np.array([0.0, 1.0, 0.0, -1.0, 0.0])
    expected, R = [], 0.0
    for t in reversed(range(5)):
        R = 0.9 * R + r[t]
        expected.append(R)
    got = discounted_returns(jnp.asarray(r), jnp.full((5,), 0.9))
    np.testing.assert_allclose(got, expected[::-1], rtol=1e-12)


def test_reward_to_go_and_episode_returns_equal_loops():
    r, _ = _data(1)
    for gamma in (1.0, 0.8):
        rtg = reward_to_go(jnp.asarray(r), jnp.asarray(DONE), gamma)
        np.testing.assert_allclose(rtg, loop_returns(r, np.where(DONE, 0.0, gamma), 0.0), rtol=1e-12)
        whole = episode_returns(jnp.asarray(r), jnp.asarray(DONE), gamma)
        np.testing.assert_allclose(whole, loop_episode_returns(r, DONE, gamma), rtol=1e-12)
    # gamma = 0 still separates episodes by done_t (not by the discount).
    whole0 = episode_returns(jnp.asarray(r), jnp.asarray(DONE), 0.0)
    np.testing.assert_allclose(whole0[:3], r[0])
    np.testing.assert_allclose(whole0[3:7], r[3])


def test_episode_cumsum_resets_at_episode_starts():
    x, _ = _data(2)
    want, c = np.zeros(T), 0.0
    for t in range(T):
        c = x[t] + (0.0 if t == 0 or DONE[t - 1] else c)
        want[t] = c
    np.testing.assert_allclose(episode_cumsum(jnp.asarray(x), jnp.asarray(DONE)), want, rtol=1e-12)


def loop_lambda_returns(r, disc, v, lam):
    out, g = np.zeros(len(r)), v[-1]
    for t in reversed(range(len(r))):
        g = r[t] + disc[t] * ((1 - lam) * v[t + 1] + lam * g)
        out[t] = g
    return out


def loop_n_step(r, disc, v, n):
    out = np.zeros(len(r))
    for t in range(len(r)):
        acc, scale, k = 0.0, 1.0, 0
        while k < n and t + k < len(r):
            acc += scale * r[t + k]
            scale *= disc[t + k]
            k += 1
        out[t] = acc + scale * v[t + k]
    return out


@pytest.mark.parametrize("lam", [0.0, 0.5, 1.0])
def test_lambda_returns_equal_loop(lam):
    r, v = _data(3)
    disc = np.where(DONE, 0.0, 0.9)
    got = lambda_returns(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v[1:]), lam)
    np.testing.assert_allclose(got, loop_lambda_returns(r, disc, v, lam), rtol=1e-12)


def test_lambda_return_is_a_weighted_average_of_n_step_returns():
    # Sutton & Barto eq. 12.2 (no episode end inside): G^λ_t = (1−λ) Σ_{n=1}^{T−t−1} λ^{n−1} G^(n)_t
    # + λ^{T−t−1} G^(T−t)_t; checked at t = 0 with an independent n-step loop.
    r, v = _data(4)
    disc, lam = np.full(T, 0.9), 0.7
    g_n = [loop_n_step(r, disc, v, n)[0] for n in range(1, T + 1)]
    want = (1 - lam) * sum(lam ** (n - 1) * g_n[n - 1] for n in range(1, T)) + lam ** (T - 1) * g_n[T - 1]
    got = lambda_returns(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v[1:]), lam)[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, T])
def test_n_step_returns_equal_loop(n):
    r, v = _data(5)
    disc = np.where(DONE, 0.0, 0.9)
    got = n_step_returns(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v[1:]), n)
    np.testing.assert_allclose(got, loop_n_step(r, disc, v, n), rtol=1e-12)
    if n == T:
        np.testing.assert_allclose(got, loop_returns(r, disc, v[-1]), rtol=1e-12)


def test_gae_limits_and_loop():
    r, v = _data(6)
    disc = np.where(DONE, 0.0, 0.9)
    args = jnp.asarray(v[:-1]), jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v[1:])
    delta = r + disc * v[1:] - v[:-1]
    np.testing.assert_allclose(td_errors(*args), delta, rtol=1e-12)
    np.testing.assert_allclose(gae_advantages(*args, 0.0), delta, rtol=1e-12)  # λ = 0: TD errors
    np.testing.assert_allclose(gae_advantages(*args, 1.0), loop_returns(r, disc, v[-1]) - v[:-1],
                               rtol=1e-10, atol=1e-12)  # λ = 1: returns − values
    a, want = 0.0, np.zeros(T)
    for t in reversed(range(T)):  # Schulman et al. 2016 eq. 16, as a loop
        a = delta[t] + disc[t] * 0.95 * a
        want[t] = a
    np.testing.assert_allclose(gae_advantages(*args, 0.95), want, rtol=1e-12)
    # Â + v = λ-return.
    np.testing.assert_allclose(gae_advantages(*args, 0.95) + v[:-1], lambda_returns(*args[1:], 0.95), rtol=1e-10)


def test_jit_and_vmap_match_per_example():
    rng = np.random.default_rng(7)
    r, v = rng.normal(size=(4, T)), rng.normal(size=(4, T + 1))
    disc = np.broadcast_to(np.where(DONE, 0.0, 0.9), (4, T))
    for fn in (lambda r, d, v: gae_advantages(v[:-1], r, d, v[1:], 0.9),
               lambda r, d, v: lambda_returns(r, d, v[1:], 0.5),
               lambda r, d, v: n_step_returns(r, d, v[1:], 3), lambda r, d, v: discounted_returns(r, d, v[-1])):
        batched = jax.jit(jax.vmap(fn))(jnp.asarray(r), jnp.asarray(disc), jnp.asarray(v))
        for i in range(4):
            np.testing.assert_allclose(batched[i], fn(jnp.asarray(r[i]), jnp.asarray(disc[i]), jnp.asarray(v[i])),
                                       rtol=1e-12)
    whole = jax.jit(jax.vmap(episode_returns))(jnp.asarray(r), jnp.broadcast_to(jnp.asarray(DONE), (4, T)))
    np.testing.assert_allclose(whole[2], loop_episode_returns(r[2], DONE, 1.0), rtol=1e-12)


def test_discount_from_done():
    np.testing.assert_array_equal(discount_from_done(jnp.asarray(DONE), 0.9), np.where(DONE, 0.0, 0.9))


def test_bad_shapes_raise():
    with pytest.raises(PlastixError, match="discount_t"):
        discounted_returns(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(PlastixError, match=r"v_t must have shape \(2,\)"):
        gae_advantages(jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), jnp.zeros(3), 0.9)
    with pytest.raises(PlastixError, match=r"v_tm1 must have shape \(2,\)"):
        td_errors(jnp.zeros(3), jnp.zeros(2), jnp.zeros(2), jnp.zeros(2))
    with pytest.raises(PlastixError, match="one trajectory"):
        discounted_returns(jnp.zeros((2, 3)), jnp.zeros((2, 3)))
    with pytest.raises(PlastixError, match="n must be a positive integer"):
        n_step_returns(jnp.zeros(2), jnp.zeros(2), jnp.zeros(2), 0)
