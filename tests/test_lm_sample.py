"""Sampling from a language model (plastix.lm.model.draw / sample): temperature 0 is the argmax,
a small temperature gives the greedy text, draws at τ follow softmax(logits / τ) (a chi-square
bound with fixed seeds), and ``sample`` is the loop that feeds each drawn token back."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core
from plastix.lm.model import LanguageModel, draw, sample

LOGITS = jnp.asarray([0.3, -1.0, 1.2, 0.0, 0.7])
# chi-square critical value, 4 degrees of freedom, p = 0.001 (tables, e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4)
CHI2_4DOF_P001 = 18.467


def test_temperature_zero_is_the_argmax():
    for seed in range(5):
        assert int(draw(jax.random.PRNGKey(seed), LOGITS, 0.0)) == 2


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_draws_follow_the_softmax_at_temperature(temperature):
    n = 20_000
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    tokens = np.asarray(jax.jit(jax.vmap(lambda k: draw(k, LOGITS, temperature)))(keys))
    counts = np.bincount(tokens, minlength=5)
    p = np.exp(np.asarray(LOGITS) / temperature)
    p /= p.sum()
    chi2 = float(np.sum((counts - n * p) ** 2 / (n * p)))
    assert chi2 < CHI2_4DOF_P001, (counts, n * p)
    # and not the τ = 1 distribution when τ = 2 (the temperature is applied)
    if temperature == 2.0:
        q = np.exp(np.asarray(LOGITS))
        q /= q.sum()
        assert float(np.sum((counts - n * q) ** 2 / (n * q))) > 10 * CHI2_4DOF_P001


def small_model():
    model = LanguageModel(make_core("plastic-lstm", 6, 8, dtype="float64"), 6)
    params = model.init(jax.random.PRNGKey(3))
    return model, params._replace(core=params.core._replace(alpha=0.5 * jnp.ones_like(params.core.alpha)))


def test_greedy_sampling_is_the_argmax_loop_and_small_temperatures_agree():
    model, params = small_model()
    prompt = jnp.asarray([1, 4, 2], jnp.int32)
    out = np.asarray(sample(model, params, jax.random.PRNGKey(0), prompt, 12, 0.0))
    carry = model.initial_carry()  # the reference: a Python loop over single steps
    for token in prompt:
        carry, logits = model.step(params, carry, token)
    expected = []
    for _ in range(12):
        token = int(jnp.argmax(logits))
        expected.append(token)
        carry, logits = model.step(params, carry, jnp.asarray(token, jnp.int32))
    np.testing.assert_array_equal(out, expected)
    cold = np.asarray(sample(model, params, jax.random.PRNGKey(7), prompt, 12, 1e-6))
    np.testing.assert_array_equal(cold, out)  # τ -> 0: greedy


def test_sampling_at_temperature_one_is_reproducible_and_uses_the_key():
    model, params = small_model()
    prompt = jnp.asarray([0], jnp.int32)
    a = np.asarray(sample(model, params, jax.random.PRNGKey(1), prompt, 40, 1.0))
    b = np.asarray(sample(model, params, jax.random.PRNGKey(1), prompt, 40, 1.0))
    c = np.asarray(sample(model, params, jax.random.PRNGKey(2), prompt, 40, 1.0))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() < 6
