"""REINFORCE exercises as code: the score function ("eligibility") and its facts (Williams 1992).

Setting: a random variable X ~ p_θ(x) (here a state-action pair
(s, a) with p(s) fixed by the world and π_θ(a|s) the stochastic machine), a reward R(x), and

    J(θ) = E[R] = Σ_s p(s) Σ_a π_θ(a|s) R(s, a)                                    (expected reward)
    e = ∇_θ log p_θ(X) = ∇_θ log π_θ(a|s)                                             (eligibility)
    Δθ = η R e                                                                        (REINFORCE)

Facts checked in tests/test_score_function.py: E[e] = 0 (the score has zero mean);
∇J = E[R e] = Cov(R, e); the Monte-Carlo average of R e converges to ∇J at rate 1/√N.

REINFORCE-backprop (exercise 4; Williams 1992) for an MLP with one hidden layer and a softmax
output, written out by hand:

    u = W1 x + b1,  h = tanh(u),  z = W2 h + b2,  π = softmax(z)                  (forward)
    δ2 = ∂log π_a/∂z = onehot(a) − π                                               ("target" = a)
    δ1 = ∂log π_a/∂u = (W2ᵀ δ2) ⊙ (1 − h²)                                         (backward)
    e_W2 = δ2 hᵀ,  e_b2 = δ2,  e_W1 = δ1 xᵀ,  e_b1 = δ1                          (eligibility)
    θ ← θ + η (R − b) e                                                            (update)

That is backprop of the cross-entropy loss "pretending the chosen action is correct", with the
sign flipped and the update multiplied by the reward (Williams 1992).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.errors import PlastixError, check_positive_int


class MLPPolicy(NamedTuple):
    """Softmax MLP with one hidden tanh layer: π(·|x) = softmax(W2 tanh(W1 x + b1) + b2)."""

    W1: jax.Array  # (H, D)
    b1: jax.Array  # (H,)
    W2: jax.Array  # (A, H)
    b2: jax.Array  # (A,)


class MLPActivations(NamedTuple):
    h: jax.Array  # (H,) hidden activity tanh(u)
    logits: jax.Array  # (A,) z
    probs: jax.Array  # (A,) π(·|x)


def init_mlp_policy(key: jax.Array, n_in: int, n_hidden: int, n_actions: int,
                    dtype=jnp.float32, scale: float = 1.0) -> MLPPolicy:
    """Gaussian weights with std scale/√fan_in, small random biases.  -> MLPPolicy."""
    for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_actions", n_actions)):
        check_positive_int(name, v)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return MLPPolicy(
        W1=scale * jax.random.normal(k1, (n_hidden, n_in), dtype) / jnp.sqrt(n_in),
        b1=0.1 * jax.random.normal(k2, (n_hidden,), dtype),
        W2=scale * jax.random.normal(k3, (n_actions, n_hidden), dtype) / jnp.sqrt(n_hidden),
        b2=0.1 * jax.random.normal(k4, (n_actions,), dtype),
    )


def mlp_forward(params: MLPPolicy, x: jax.Array) -> MLPActivations:
    """Forward pass for one input x (D,).  -> MLPActivations."""
    h = jnp.tanh(params.W1 @ x + params.b1)
    logits = params.W2 @ h + params.b2
    return MLPActivations(h, logits, jax.nn.softmax(logits))


def mlp_log_prob(params: MLPPolicy, x: jax.Array, a: jax.Array) -> jax.Array:
    """log π(a|x) for one input x (D,) and action a () int.  -> ()."""
    return jax.nn.log_softmax(mlp_forward(params, x).logits)[a]


def mlp_eligibility(params: MLPPolicy, x: jax.Array, a: jax.Array) -> MLPPolicy:
    """e = ∇_θ log π(a|x) by the backprop equations written out (module docstring), not autodiff.

    x (D,), a () int -> MLPPolicy of gradients, same shapes as params."""
    act = mlp_forward(params, x)
    delta2 = jax.nn.one_hot(a, act.probs.shape[0], dtype=act.probs.dtype) - act.probs  # (A,)
    delta1 = (params.W2.T @ delta2) * (1.0 - act.h ** 2)  # (H,)
    return MLPPolicy(W1=jnp.outer(delta1, x), b1=delta1, W2=jnp.outer(delta2, act.h), b2=delta2)


class ReinforceStep(NamedTuple):
    params: MLPPolicy  # updated parameters
    action: jax.Array  # () int, the sampled action
    reward: jax.Array  # () the observed reward


def reinforce_backprop_step(key: jax.Array, params: MLPPolicy, x: jax.Array,
                            reward_fn: Callable[[jax.Array, jax.Array], jax.Array],
                            lr: float, baseline: float | jax.Array = 0.0) -> ReinforceStep:
    """One REINFORCE-backprop update for an observed input x (Williams 1992):
    sample a ~ π(·|x), r = reward_fn(x, a), θ ← θ + lr (r − b) e(x, a) with the hand eligibility."""
    a = jax.random.categorical(key, mlp_forward(params, x).logits)
    r = jnp.asarray(reward_fn(x, a), x.dtype)
    e = mlp_eligibility(params, x, a)
    new = jax.tree_util.tree_map(lambda p, g: p + lr * (r - baseline) * g, params, e)
    return ReinforceStep(new, a, r)


# ------------------------------------------------------- exact facts on a small discrete problem


class DiscreteProblem(NamedTuple):
    """A contextual bandit: state s ~ p_s, action a ~ π_θ(·|s), reward R[s, a]."""

    p_s: jax.Array  # (S,) state probabilities (the world; independent of θ)
    R: jax.Array  # (S, A) rewards


LogpFn = Callable[[jax.Array], jax.Array]  # θ (P,) -> log π_θ(a|s) table (S, A)


def _check_problem(problem: DiscreteProblem, logp_sa: jax.Array) -> None:
    if problem.R.ndim != 2 or problem.p_s.shape != problem.R.shape[:1] or logp_sa.shape != problem.R.shape:
        raise PlastixError(f"expected p_s (S,), R (S, A) and log π table (S, A); got "
                           f"{tuple(problem.p_s.shape)}, {tuple(problem.R.shape)}, {tuple(logp_sa.shape)}.")


def expected_reward(logp_sa: jax.Array, problem: DiscreteProblem) -> jax.Array:
    """J = Σ_s p(s) Σ_a π(a|s) R(s, a), exactly.  logp_sa (S, A) -> ()."""
    _check_problem(problem, logp_sa)
    return jnp.sum(problem.p_s[:, None] * jnp.exp(logp_sa) * problem.R)


def exact_gradient(logp_fn: LogpFn, theta: jax.Array, problem: DiscreteProblem) -> jax.Array:
    """∇_θ J(θ) by differentiating the exact sum J (no score function involved).  -> (P,)."""
    return jax.grad(lambda th: expected_reward(logp_fn(th), problem))(theta)


def eligibility_table(logp_fn: LogpFn, theta: jax.Array) -> jax.Array:
    """e(s, a) = ∇_θ log π_θ(a|s) for every (s, a).  -> (S, A, P)."""
    return jax.jacrev(logp_fn)(theta)


def eligibility_mean(logp_fn: LogpFn, theta: jax.Array, problem: DiscreteProblem) -> jax.Array:
    """E[e] = Σ_s p(s) Σ_a π(a|s) e(s, a), exactly (zero: Σ_a ∇π(a|s) = ∇1 = 0).  -> (P,)."""
    w_sa = problem.p_s[:, None] * jnp.exp(logp_fn(theta))
    return jnp.einsum("sa,sap->p", w_sa, eligibility_table(logp_fn, theta))


def reward_eligibility_cov(logp_fn: LogpFn, theta: jax.Array, problem: DiscreteProblem) -> jax.Array:
    """Cov(R, e) = E[(R − E R)(e − E e)], exactly (exercise 3: equals ∇J).  -> (P,)."""
    logp = logp_fn(theta)
    w_sa = problem.p_s[:, None] * jnp.exp(logp)
    e = eligibility_table(logp_fn, theta)
    r_c = problem.R - jnp.sum(w_sa * problem.R)
    e_c = e - jnp.einsum("sa,sap->p", w_sa, e)[None, None, :]
    return jnp.einsum("sa,sap->p", w_sa * r_c, e_c)


def reinforce_samples(key: jax.Array, logp_fn: LogpFn, theta: jax.Array, problem: DiscreteProblem,
                      n: int) -> jax.Array:
    """n independent single-sample REINFORCE estimates R(s_i, a_i) e(s_i, a_i), s ~ p, a ~ π.

    Their mean is the Monte-Carlo estimate of ∇J (unbiased; std error √(tr Cov / n)). -> (n, P)."""
    check_positive_int("n", n)
    logp = logp_fn(theta)
    _check_problem(problem, logp)
    k_s, k_a = jax.random.split(key)
    s = jax.random.categorical(k_s, jnp.log(problem.p_s), shape=(n,))
    a = jax.random.categorical(k_a, logp[s])
    e = eligibility_table(logp_fn, theta)
    return problem.R[s, a][:, None] * e[s, a]


def reinforce_estimate(key: jax.Array, logp_fn: LogpFn, theta: jax.Array, problem: DiscreteProblem,
                       n: int) -> jax.Array:
    """Monte-Carlo REINFORCE estimate (1/n) Σ_i R_i e_i of ∇J from n samples.  -> (P,)."""
    return jnp.mean(reinforce_samples(key, logp_fn, theta, problem, n), axis=0)
