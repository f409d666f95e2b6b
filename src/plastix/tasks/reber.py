"""Embedded Reber grammar (Reber 1967; H&S 1997, exp. 1): predict the next legal symbols.

Symbols (one-hot, 7): B T P S X V E. The Reber grammar, as a finite automaton
(state --symbol--> state, each branch with probability ½)::

    r0 -B-> r1;  r1 -T-> r2, -P-> r3;  r2 -S-> r2, -X-> r4;  r3 -T-> r3, -V-> r5;
    r4 -X-> r3, -S-> r6;  r5 -P-> r4, -V-> r6;  r6 -E-> end

An embedded string is B β <Reber string> β E with β ∈ {T, P}: to predict the second to
last symbol the network must remember β across the whole inner string (the long lag).

Targets: at step t (input = symbol t) the multi-hot set of legal symbols t+1 (7); the
final E has no target. Loss: ½‖y_t − target_t‖² (mse on multi-hot), averaged over the
predicted steps. Metric (H&S's criterion): the fraction of strings for which EVERY step's
thresholded output {k : y_k > ½} equals the legal set.

Baseline 0.5: a predictor that knows the grammar perfectly but has no memory of β can
only guess the second-to-last symbol, so it gets a whole string right half of the time.

Strings have random length (shortest 9); sequences are padded to T with zero inputs and
zero weights. A string longer than T (probability 1.3e-3 at T = 30, 5.7e-5 at the default T = 40;
exact, by the automaton, see docs/sequence-tasks.md) is dropped: all its weights are zero and
the metric ignores it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from plastix.grads.base import Batch
from plastix.tasks.sequence import SAMPLER, batched

REBER_SYMBOLS = "BTPSXVE"
_INNER = {  # state: [(symbol, next state)]; "out" leaves the inner grammar
    0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
    4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", "out")],
}


def _automaton() -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Flat tables of the embedded grammar: symbol[s, c], nxt[s, c], n_choices[s], start, end.

    States: 0 start (-B->), 1 (-T-> inner_T, -P-> inner_P), inner copies for β = T, P,
    then "emit β", then "emit E", then END (absorbing, emits nothing).
    """
    sym = REBER_SYMBOLS.index
    table: dict[int, list[tuple[str, int]]] = {0: [], 1: []}
    end = 2 + 2 * 9
    for b, beta in enumerate("TP"):
        base = 2 + 9 * b  # inner r0..r6 at base+0..6, emit-β at base+7, emit-E at base+8
        table[1].append((beta, base))
        for s, arcs in _INNER.items():
            table[base + s] = [(c, base + 7 if t == "out" else base + t) for c, t in arcs]
        table[base + 7] = [(beta, base + 8)]
        table[base + 8] = [("E", end)]
    table[0] = [("B", 1)]
    n = end + 1
    symbol = np.zeros((n, 2), np.int32)
    nxt = np.full((n, 2), end, np.int32)
    n_choices = np.zeros((n,), np.int32)
    for s, arcs in table.items():
        n_choices[s] = len(arcs)
        for c, (ch, t) in enumerate(arcs * (2 // len(arcs))):
            symbol[s, c], nxt[s, c] = sym(ch), t
    return symbol, nxt, n_choices, 0, end


SYMBOL, NEXT, N_CHOICES, START, END = _automaton()
# legal[s] = multi-hot of the symbols that state s can emit next
LEGAL = np.zeros((END + 1, len(REBER_SYMBOLS)), np.float32)
for _s in range(END):
    LEGAL[_s, SYMBOL[_s, : N_CHOICES[_s]]] = 1.0


def reber_example(key: jax.Array, T: int, dtype=jnp.float32) -> Batch:
    """One embedded Reber string padded to T: xs (T, 7), targets (T, 7) multi-hot."""
    coins = jax.random.bernoulli(key, 0.5, (T,)).astype(jnp.int32)
    symbol, nxt, legal = jnp.asarray(SYMBOL), jnp.asarray(NEXT), jnp.asarray(LEGAL, dtype)

    def step(state, coin):
        active = state != END
        s_next = nxt[state, coin]
        x = jnp.where(active, jax.nn.one_hot(symbol[state, coin], len(REBER_SYMBOLS), dtype=dtype), 0.0)
        has_target = active & (s_next != END)
        return s_next, (x, legal[s_next], has_target)

    final, (xs, targets, has_target) = lax.scan(step, jnp.int32(START), coins)
    valid = final == END
    mask = (has_target & valid).astype(dtype)
    weights = mask / jnp.maximum(jnp.sum(mask), 1.0)
    return Batch(xs, targets, weights, jnp.zeros((T,), bool))


@SAMPLER
def sample_reber(key, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
    return batched(reber_example, key, batch_size, T, dtype)


def reber_all_correct(ys: jax.Array, batch: Batch) -> jax.Array:
    """H&S criterion: fraction of (valid) strings with every step's {y_k > ½} = legal set."""
    step_ok = jnp.all((ys > 0.5) == (batch.targets > 0.5), axis=-1)  # (B, T)
    scored = batch.weights > 0
    string_ok = jnp.all(step_ok | ~scored, axis=-1)
    valid = jnp.any(scored, axis=-1)
    return jnp.sum(string_ok & valid) / jnp.maximum(jnp.sum(valid), 1)


def reber_baseline(T: int) -> float:
    """Best memoryless predictor: right on the whole string with probability ½."""
    return 0.5


def decode(xs: np.ndarray) -> str:
    """The string of a one-hot (T, 7) input (padding rows are skipped)."""
    return "".join(REBER_SYMBOLS[int(np.argmax(r))] for r in np.asarray(xs) if r.sum() > 0)
