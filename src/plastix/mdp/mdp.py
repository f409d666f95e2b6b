"""Markov decision processes as pytrees of arrays (Russell & Norvig 2010, ch. 17).

An MDP with states s = 0..S-1 and actions a = 0..A-1 is held as arrays, so that it can be
``vmap``-ed (a batch of MDPs) and passed through ``jit``:

* ``P[s, a, s']``  transition probabilities, each row ``P[s, a, :]`` sums to 1;
* ``R[s, a, s']``  reward received on the transition s --a--> s';
* ``terminal[s]``  final states: the episode ends on arriving there;
* ``R_final[s]``   the utility of a final state (0 for the others);
* ``start``        the initial state s_0; ``gamma`` the discount γ ∈ (0, 1].

The Bellman optimality equation used by every solver is (γ < 1: a contraction)::

    Q(s, a) = Σ_s' P[s, a, s'] (R[s, a, s'] + γ U(s'))
    U(s)    = R_final[s]              if s is final
            = max_a Q(s, a)           otherwise

State rewards R(s) (R&N eq. 17.5: U(s) = R(s) + γ max_a Σ P U(s')) are the case
R[s, a, s'] = R(s) for every a, s' and R_final[s] = R(s) for final states; the
"reward on arrival" convention of Sutton & Barto (cliff walking, FrozenLake) is
R[s, a, s'] = reward of s' and R_final = 0. Both fit the one equation above.

``SparseMDP`` stores K successors per (s, a) (``succ[s, a, k]``, ``prob[s, a, k]``,
``R[s, a, k]``) so that 10^5 states fit in memory; the dense ``MDP`` serves the grids.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError

PROB_ATOL = 1e-6


@dataclasses.dataclass(frozen=True, kw_only=True)
class FiniteMDP:
    """What the dense and the sparse MDP share: the fields ``terminal``, ``R_final`` (S,),
    ``start`` () and ``gamma`` () (keyword-only), and a transition table named by ``TABLE``
    whose axes -3, -2 are (S, A) (a leading batch axis from ``vmap`` is allowed). Abstract."""

    TABLE: ClassVar[str]
    terminal: jax.Array
    R_final: jax.Array
    start: jax.Array
    gamma: jax.Array

    @property
    def num_states(self) -> int:
        return getattr(self, self.TABLE).shape[-3]

    @property
    def num_actions(self) -> int:
        return getattr(self, self.TABLE).shape[-2]

    def replace(self, **changes: Any):
        return dataclasses.replace(self, **changes)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class MDP(FiniteMDP):
    """Dense finite MDP (see module docstring). Shapes: P, R: (S, A, S); terminal, R_final: (S,);
    start: () int; gamma: () float."""

    TABLE: ClassVar[str] = "P"
    P: jax.Array
    R: jax.Array


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SparseMDP(FiniteMDP):
    """MDP with K successors per (s, a). Shapes: succ (S, A, K) int; prob, R: (S, A, K);
    terminal, R_final: (S,); start: (); gamma: (). Row sums Σ_k prob[s, a, k] = 1."""

    TABLE: ClassVar[str] = "succ"
    succ: jax.Array
    prob: jax.Array
    R: jax.Array


AnyMDP = MDP | SparseMDP


def q_backup(mdp: AnyMDP, values: jax.Array) -> jax.Array:
    """One Bellman backup: Q(s, a) = Σ_s' P[s, a, s'] (R[s, a, s'] + γ U(s')).

    values: (S,) -> returns (S, A). Works for dense and sparse MDPs (pure, jit/vmap-able).
    """
    if isinstance(mdp, SparseMDP):
        nxt = values[mdp.succ]  # (S, A, K)
        return jnp.sum(mdp.prob * (mdp.R + mdp.gamma * nxt), axis=-1)
    target = mdp.R + mdp.gamma * values[None, None, :]
    return jnp.einsum("sat,sat->sa", mdp.P, target)


def values_from_q(mdp: AnyMDP, q: jax.Array) -> jax.Array:
    """U(s) = R_final[s] on final states, max_a Q(s, a) elsewhere. q: (S, A) -> (S,)."""
    return jnp.where(mdp.terminal, mdp.R_final, jnp.max(q, axis=-1))


def bellman_optimality(mdp: AnyMDP, values: jax.Array) -> jax.Array:
    """The Bellman optimality operator T: (T U)(s) = max_a Q_U(s, a), U(final) = R_final."""
    return values_from_q(mdp, q_backup(mdp, values))


def to_dense(mdp: AnyMDP) -> MDP:
    """Dense (S, A, S) form of a sparse MDP (small S only); a dense MDP is returned as is.
    Rewards of duplicated successors are merged probability-weighted."""
    if isinstance(mdp, MDP):
        return mdp
    S, A, _ = mdp.succ.shape
    onehot = jax.nn.one_hot(mdp.succ, S, dtype=mdp.prob.dtype)  # (S, A, K, S)
    P = jnp.einsum("sak,sakt->sat", mdp.prob, onehot)
    pr = jnp.einsum("sak,sakt->sat", mdp.prob * mdp.R, onehot)
    R = jnp.where(P > 0, pr / jnp.where(P > 0, P, 1.0), 0.0)
    return MDP(P=P, R=R, terminal=mdp.terminal, R_final=mdp.R_final, start=mdp.start, gamma=mdp.gamma)


def default_float():
    """float64 when ``jax_enable_x64`` is on, else float32."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def _check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not np.isfinite(gamma) or not 0.0 < gamma <= 1.0:
        raise PlastixError(f"gamma must be in (0, 1], got {gamma!r}.")
    return gamma


def _check_rows(prob: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(prob)):
        s, a = np.argwhere(~np.isfinite(prob))[0][:2]
        raise PlastixError(f"{what} has a non-finite entry at state {s}, action {a}.")
    if np.any(prob < 0):
        s, a = np.argwhere(prob < 0)[0][:2]
        raise PlastixError(f"{what}[{s}, {a}] has a negative probability.")
    sums = prob.sum(axis=-1)
    bad = np.argwhere(np.abs(sums - 1.0) > PROB_ATOL)
    if bad.size:
        s, a = bad[0]
        raise PlastixError(
            f"transition probabilities of state {s}, action {a} sum to {sums[s, a]:.6g}, expected 1."
        )


def _common(S: int, terminal, R_final, start, gamma, dtype):
    terminal = np.zeros(S, bool) if terminal is None else np.asarray(terminal, bool)
    R_final = np.zeros(S) if R_final is None else np.asarray(R_final, float)
    if terminal.shape != (S,) or R_final.shape != (S,):
        raise PlastixError(
            f"terminal and R_final must have shape ({S},), got {terminal.shape} and {R_final.shape}."
        )
    if not np.all(np.isfinite(R_final)):
        raise PlastixError(f"R_final has a non-finite value at state {int(np.argmax(~np.isfinite(R_final)))}.")
    if isinstance(start, bool) or int(start) != start or not 0 <= int(start) < S:
        raise PlastixError(f"start must be a state index in [0, {S}), got {start!r}.")
    if terminal[int(start)]:
        raise PlastixError(f"start state {int(start)} is a final state.")
    return {"terminal": jnp.asarray(terminal), "R_final": jnp.asarray(R_final, dtype),
            "start": jnp.asarray(int(start), jnp.int32), "gamma": jnp.asarray(_check_gamma(gamma), dtype)}


def mdp_from_arrays(P, R, *, gamma: float, start: int = 0, terminal=None, R_final=None,
                    dtype=None) -> MDP:
    """Build and validate a dense MDP from arrays.

    P: (S, A, S) with rows summing to 1; R: (S,) state rewards (R&N's R(s): then
    R[s, a, s'] = R(s) and final states get R_final = R(s) unless R_final is given),
    (S, A) or (S, A, S). Raises PlastixError naming the offending state/action.
    """
    P = np.asarray(P, float)
    if P.ndim != 3 or P.shape[0] != P.shape[2] or min(P.shape) < 1:
        raise PlastixError(f"P must have shape (S, A, S) with S, A >= 1, got {P.shape}.")
    S, A, _ = P.shape
    _check_rows(P, "P")
    dtype = default_float() if dtype is None else dtype
    R = np.asarray(R, float)
    if R_final is None and R.shape == (S,) and terminal is not None:
        R_final = np.where(np.asarray(terminal, bool), R, 0.0)
    if R.shape == (S,):
        R = np.broadcast_to(R[:, None, None], (S, A, S))
    elif R.shape == (S, A):
        R = np.broadcast_to(R[:, :, None], (S, A, S))
    elif R.shape != (S, A, S):
        raise PlastixError(f"R must have shape ({S},), ({S}, {A}) or ({S}, {A}, {S}), got {R.shape}.")
    if not np.all(np.isfinite(R)):
        raise PlastixError(f"R has a non-finite value at state {int(np.argwhere(~np.isfinite(R))[0][0])}.")
    rest = _common(S, terminal, R_final, start, gamma, dtype)
    return MDP(P=jnp.asarray(P, dtype), R=jnp.asarray(R, dtype), **rest)


def sparse_mdp_from_arrays(succ, prob, R, *, gamma: float, start: int = 0, terminal=None,
                           R_final=None, dtype=None) -> SparseMDP:
    """Build and validate a sparse MDP: succ (S, A, K) ints in [0, S), prob (S, A, K), R (S, A, K)."""
    succ, prob, R = np.asarray(succ), np.asarray(prob, float), np.asarray(R, float)
    dtype = default_float() if dtype is None else dtype
    if succ.ndim != 3 or prob.shape != succ.shape or R.shape != succ.shape:
        raise PlastixError(
            f"succ, prob and R must share one shape (S, A, K), got {succ.shape}, {prob.shape}, {R.shape}."
        )
    S = succ.shape[0]
    if not np.issubdtype(succ.dtype, np.integer) or succ.min() < 0 or succ.max() >= S:
        raise PlastixError(f"succ must hold state indices in [0, {S}).")
    _check_rows(prob, "prob")
    if not np.all(np.isfinite(R)):
        raise PlastixError("R has a non-finite value.")
    rest = _common(S, terminal, R_final, start, gamma, dtype)
    return SparseMDP(succ=jnp.asarray(succ, jnp.int32), prob=jnp.asarray(prob, dtype), R=jnp.asarray(R, dtype),
                     **rest)


def random_sparse_mdp(key: jax.Array, num_states: int, num_actions: int, num_succ: int,
                      gamma: float = 0.95, dtype=None) -> SparseMDP:
    """A random sparse MDP: K uniform successors per (s, a), Dirichlet(1) probabilities,
    N(0, 1) rewards, no final states (pure JAX, no validation: for benchmarks and tests)."""
    dtype = default_float() if dtype is None else dtype
    k1, k2, k3 = jax.random.split(key, 3)
    shape = (num_states, num_actions, num_succ)
    succ = jax.random.randint(k1, shape, 0, num_states, dtype=jnp.int32)
    prob = jax.random.dirichlet(k2, jnp.ones(num_succ, dtype), shape[:2])
    R = jax.random.normal(k3, shape, dtype)
    zeros = jnp.zeros(num_states, dtype)
    return SparseMDP(succ=succ, prob=prob, R=R, terminal=zeros > 1, R_final=zeros, start=jnp.asarray(0, jnp.int32),
                     gamma=jnp.asarray(gamma, dtype))
