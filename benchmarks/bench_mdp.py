"""Benchmarks for plastix.mdp (not tests; numbers go to docs/mdp.md).

1. Value iteration on random sparse MDPs (S = 10^3, 10^4, 10^5 states, A = 4 actions, K = 8
   successors per (s, a)): time per Bellman sweep U ← max_a Σ_k prob (R + γ U[succ]) of the
   jitted JAX sweep against the same sweep in plain NumPy, in the same run and dtype (float32).
2. Tabular Q-learning on cliff-walking: environment steps per second for 1 seed and for 1000
   seeds vmapped in one jitted call (compile time excluded: one warm-up call first).

Run: ``python benchmarks/bench_mdp.py [--quick]``.
"""

from __future__ import annotations

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.mdp import TabularConfig, bellman_optimality, make_grid, random_sparse_mdp, train_seeds

A, K, GAMMA = 4, 8, 0.95


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def numpy_sweep(succ, prob, R, gamma, U):
    """Plain NumPy Bellman optimality sweep on the sparse representation."""
    return np.max(np.sum(prob * (R + gamma * U[succ]), axis=-1), axis=-1)


def bench_value_iteration(sizes, sweeps: int) -> list[tuple]:
    rows = []
    for S in sizes:
        mdp = random_sparse_mdp(jax.random.key(S), S, A, K, gamma=GAMMA, dtype=jnp.float32)
        many = jax.jit(lambda m, u: lax.fori_loop(0, sweeps, lambda _, v: bellman_optimality(m, v), u))
        u0 = jnp.zeros(S, jnp.float32)
        many(mdp, u0).block_until_ready()
        t_jax = _best_of(lambda: many(mdp, u0).block_until_ready()) / sweeps
        succ, prob, R = (np.asarray(x) for x in (mdp.succ, mdp.prob, mdp.R))
        gamma = np.float32(GAMMA)

        def run_np():
            U = np.zeros(S, np.float32)
            for _ in range(sweeps):
                U = numpy_sweep(succ, prob, R, gamma, U)
            return U

        t_np = _best_of(run_np) / sweeps
        u_np, u_jax = run_np(), np.asarray(many(mdp, u0))
        assert np.allclose(u_np, u_jax, rtol=1e-4, atol=1e-3), "JAX and NumPy sweeps disagree"
        rows.append((S, t_jax * 1e3, t_np * 1e3, t_np / t_jax))
    return rows


def bench_q_learning(seed_counts, steps: int) -> list[tuple]:
    task = make_grid("cliff-walking")
    cfg = TabularConfig(algo="q-learning", total_steps=steps, lr=0.5, epsilon=0.1, log_every=steps // 10,
                        max_episode_steps=task.max_episode_steps)
    rows = []
    for n in seed_counts:
        keys = jax.random.split(jax.random.key(0), n)
        train_seeds(keys, task.mdp, cfg).q.block_until_ready()  # compile
        keys = jax.random.split(jax.random.key(1), n)
        t = _best_of(lambda: train_seeds(keys, task.mdp, cfg).q.block_until_ready(), repeats=2)
        rows.append((n, steps, t, n * steps / t))
    return rows


def main(quick: bool = False) -> None:
    sizes = (10**3, 10**4) if quick else (10**3, 10**4, 10**5)
    print(f"JAX {jax.__version__}, backend {jax.default_backend()}, float32\n")
    print(f"Value iteration sweep, random sparse MDP (A = {A}, K = {K} successors)\n")
    print("| states | JAX jit (ms/sweep) | NumPy (ms/sweep) | NumPy / JAX |")
    print("|---:|---:|---:|---:|")
    for S, tj, tn, ratio in bench_value_iteration(sizes, sweeps=20):
        print(f"| {S:,} | {tj:.3f} | {tn:.3f} | {ratio:.1f}x |")
    print("\nTabular Q-learning on cliff-walking (steps per second, compile excluded)\n")
    print("| seeds (vmapped) | steps per seed | seconds | env steps / s (all seeds) |")
    print("|---:|---:|---:|---:|")
    for n, steps, t, sps in bench_q_learning((1, 1000), steps=2_000 if quick else 10_000):
        print(f"| {n} | {steps:,} | {t:.2f} | {sps:,.0f} |")


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
