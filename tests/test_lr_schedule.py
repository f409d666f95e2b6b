"""``lr_end``: the step size of the gradient trainers decays linearly from lr to lr_end.

Independent check: Adam on a constant gradient g takes steps of exactly lr_k · g / (|g| + ε')
after bias correction (m̂ = g, v̂ = g²), i.e. lr_k · sign(g) up to ε, so the k-th parameter change
must be lr · (1 − k / N) + lr_end · k / N (optax.linear_schedule over N = num_updates).
"""

import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.rl.trainer import RLConfig, validate
from plastix.train.harness import make_optimizer


@pytest.mark.parametrize("lr_end", [0.0, 2e-3])
def test_step_size_decays_linearly_to_lr_end(lr_end):
    lr, n = 1e-2, 8
    opt = make_optimizer("adam", lr, lr_end, None, n)
    params = {"w": jnp.zeros(3)}
    grad = {"w": jnp.array([0.5, -2.0, 3.0])}
    state = opt.init(params)
    steps = []
    for _ in range(n + 2):
        updates, state = opt.update(grad, state, params)
        steps.append(np.asarray(updates["w"]))
    k = np.arange(n + 2)
    expected = lr + (lr_end - lr) * np.minimum(k, n) / n  # constant at lr_end after N updates
    for got, want in zip(steps, expected, strict=True):
        np.testing.assert_allclose(got, -want * np.sign(grad["w"]), rtol=1e-6, atol=1e-9)


def test_constant_step_size_without_lr_end():
    opt = make_optimizer("adam", 3e-3, None, None, 4)
    params, grad = {"w": jnp.zeros(2)}, {"w": jnp.array([1.0, -1.0])}
    state = opt.init(params)
    for _ in range(6):
        updates, state = opt.update(grad, state, params)
        np.testing.assert_allclose(np.asarray(updates["w"]), [-3e-3, 3e-3], rtol=1e-6)


@pytest.mark.parametrize("lr_end", [-1e-3, 2e-2, float("nan"), "0.1"])
def test_bad_lr_end_is_rejected(lr_end):
    with pytest.raises(PlastixError, match="lr_end must lie in"):
        validate(RLConfig(task="bandit", lr=1e-2, lr_end=lr_end))



def test_rmsprop_is_the_dqn_papers_centered_rmsprop():
    """make_optimizer("rmsprop"): centered RMSProp, decay ρ = 0.95, ε = 0.01 inside the root
    (Mnih et al. 2015, Extended Data Table 1; Graves 2013, eq. 38-41). From zero statistics, one
    step: n = (1 − ρ) g², m = (1 − ρ) g, Δθ = −lr g / √(n − m² + ε)."""
    lr, g = 2.5e-4, np.array([0.5, -2.0, 3.0])
    opt = make_optimizer("rmsprop", lr, None, None, 10)
    params = {"w": jnp.zeros(3)}
    updates, _ = opt.update({"w": jnp.asarray(g)}, opt.init(params), params)
    n, m = 0.05 * g**2, 0.05 * g
    np.testing.assert_allclose(np.asarray(updates["w"]), -lr * g / np.sqrt(n - m**2 + 0.01), rtol=1e-6)
    with pytest.raises(PlastixError, match="unknown optimizer 'sgd'"):
        make_optimizer("sgd", lr, None, None, 10)
