"""Long-lag sequence tasks of Hochreiter & Schmidhuber (1997) and Arjovsky et al. (2016).

Every generator draws ONE example with ``*_example(key, T, dtype) -> Batch`` (xs (L, d),
targets, weights (L,), resets (L,)) and a batch by ``vmap`` over split keys
(``sample_*(key, batch_size, T)``). The loss weights w_t of one example sum to 1, so the
``SeqModel`` loss Σ_t w_t ℓ_t is a per-target mean. Metrics take the model outputs
ys (B, L, out) and the batch, and return a scalar.

adding (Arjovsky et al. 2016, §4.2, after H&S 1997 exp. 4)
    x_t = (v_t, m_t), v_t ~ U(0, 1), m_t = 1 at two positions (one uniformly in the first
    half [0, T/2), one in the second half [T/2, T)), 0 elsewhere. Target at the last step:
    s = Σ_t m_t v_t. Metric: plain MSE E[(y_T − s)²] (the SeqModel loss is ½ of it).
    Baseline: always predicting E[s] = 1 gives MSE Var(s) = 2·(1/12) = 1/6 ≈ 0.1667.

copy (Arjovsky et al. 2016, §4.1 "copying memory")
    Alphabet: 0 blank, 1..8 symbols, 9 delimiter; input one-hot (10). Length L = T + 20:
    10 random symbols, T−1 blanks, the delimiter, 10 blanks. Targets: blank for the first
    T + 10 steps, then the 10 symbols (9 classes, blank + 8). Loss: cross-entropy averaged
    over all L steps (the standard form). Metric: accuracy on the 10 copied symbols,
    chance 1/8. Loss baseline (blank, then uniform guess): 10·log 8 / (T + 20).

temporal-order (H&S 1997, exp. 6a)
    Symbols a b c d B E X Y (one-hot, 8). The sequence starts with E, ends with B, is made
    of random distractors a–d except at t1 ∈ [T/10, 2T/10] and t2 ∈ [T/2, 6T/10], which hold
    X or Y. Class at the last step: XX→0 (Q), XY→1 (R), YX→2 (S), YY→3 (U).
    Departure: T is fixed per batch (H&S draw it from 100..110). Metric: accuracy; chance 1/4.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from plastix.grads.base import Batch

COPY_SYMBOLS = 8  # symbols 1..8; 0 is the blank, 9 the delimiter
COPY_LENGTH = 10  # how many symbols are copied
TEMPORAL_SYMBOLS = "abcdBEXY"


def last_step_weights(L: int, dtype) -> jax.Array:
    """w = e_{L−1}: a single target at the last step."""
    return jnp.zeros((L,), dtype).at[L - 1].set(1.0)


SAMPLER = functools.partial(jax.jit, static_argnums=(1, 2, 3))  # (key, batch_size, T, dtype)


def batched(example_fn, key: jax.Array, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
    """A batch of ``batch_size`` examples, one per split of ``key`` (leading axis B)."""
    keys = jax.random.split(key, batch_size)
    return jax.vmap(lambda k: example_fn(k, T, dtype))(keys)


# ---------------------------------------------------------------- adding problem
def adding_example(key: jax.Array, T: int, dtype=jnp.float32) -> Batch:
    """One adding-problem sequence: xs (T, 2), targets (T, 1) (the sum at t = T−1)."""
    kv, k1, k2 = jax.random.split(key, 3)
    values = jax.random.uniform(kv, (T,), dtype)
    half = T // 2
    i1 = jax.random.randint(k1, (), 0, half, jnp.int32)
    i2 = jax.random.randint(k2, (), half, T, jnp.int32)
    markers = jnp.zeros((T,), dtype).at[i1].set(1.0).at[i2].set(1.0)
    total = values[i1] + values[i2]
    targets = jnp.zeros((T, 1), dtype).at[T - 1, 0].set(total)
    xs = jnp.stack([values, markers], axis=1)
    return Batch(xs, targets, last_step_weights(T, dtype), jnp.zeros((T,), bool))


@SAMPLER
def sample_adding(key, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
    return batched(adding_example, key, batch_size, T, dtype)


def weighted_mse(ys: jax.Array, batch: Batch) -> jax.Array:
    """Mean over the batch of Σ_t w_t ‖y_t − target_t‖² (plain squared error, no ½)."""
    err = jnp.sum((ys - batch.targets) ** 2, axis=-1)  # (B, L)
    return jnp.mean(jnp.sum(batch.weights * err, axis=-1))


def adding_baseline(T: int) -> float:
    """MSE of the constant prediction E[s] = 1: Var(v1 + v2) = 2/12 = 1/6 for any T."""
    return 1.0 / 6.0


# ---------------------------------------------------------------- copy memory
def copy_example(key: jax.Array, T: int, dtype=jnp.float32) -> Batch:
    """One copy-memory sequence: xs (T+20, 10) one-hot, targets (T+20,) labels in 0..8."""
    L = T + 2 * COPY_LENGTH
    symbols = jax.random.randint(key, (COPY_LENGTH,), 1, COPY_SYMBOLS + 1, jnp.int32)
    inputs = jnp.zeros((L,), jnp.int32).at[:COPY_LENGTH].set(symbols)
    inputs = inputs.at[COPY_LENGTH + T - 1].set(COPY_SYMBOLS + 1)
    targets = jnp.zeros((L,), jnp.int32).at[L - COPY_LENGTH:].set(symbols)
    xs = jax.nn.one_hot(inputs, COPY_SYMBOLS + 2, dtype=dtype)
    weights = jnp.full((L,), 1.0 / L, dtype)
    return Batch(xs, targets, weights, jnp.zeros((L,), bool))


@SAMPLER
def sample_copy(key, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
    return batched(copy_example, key, batch_size, T, dtype)


def copy_accuracy(ys: jax.Array, batch: Batch) -> jax.Array:
    """Fraction of the 10 copied symbols predicted right (argmax), over the batch."""
    pred = jnp.argmax(ys[:, -COPY_LENGTH:, :], axis=-1)
    return jnp.mean(pred == batch.targets[:, -COPY_LENGTH:])


def copy_loss_baseline(T: int) -> float:
    """Cross-entropy of 'blank, then a uniform guess of the 8 symbols': 10 log 8 / (T + 20)."""
    return COPY_LENGTH * float(jnp.log(COPY_SYMBOLS)) / (T + 2 * COPY_LENGTH)


# ---------------------------------------------------------------- temporal order
def temporal_order_positions(T: int) -> tuple[int, int, int, int]:
    """Ranges [lo1, hi1], [lo2, hi2] (inclusive) of t1 and t2; (10, 20, 50, 60) at T = 100."""
    return round(0.1 * T), round(0.2 * T), round(0.5 * T), round(0.6 * T)


def temporal_order_example(key: jax.Array, T: int, dtype=jnp.float32) -> Batch:
    """One temporal-order sequence: xs (T, 8) one-hot over ``abcdBEXY``, targets (T,) labels."""
    kd, k1, k2, kc = jax.random.split(key, 4)
    lo1, hi1, lo2, hi2 = temporal_order_positions(T)
    t1 = jax.random.randint(k1, (), lo1, hi1 + 1, jnp.int32)
    t2 = jax.random.randint(k2, (), lo2, hi2 + 1, jnp.int32)
    which = jax.random.randint(kc, (2,), 0, 2, jnp.int32)  # 0 = X, 1 = Y
    seq = jax.random.randint(kd, (T,), 0, 4, jnp.int32)  # distractors a, b, c, d
    seq = seq.at[0].set(5).at[T - 1].set(4)  # E first, B (the trigger) last
    seq = seq.at[t1].set(6 + which[0]).at[t2].set(6 + which[1])
    label = 2 * which[0] + which[1]
    targets = jnp.zeros((T,), jnp.int32).at[T - 1].set(label)
    xs = jax.nn.one_hot(seq, len(TEMPORAL_SYMBOLS), dtype=dtype)
    return Batch(xs, targets, last_step_weights(T, dtype), jnp.zeros((T,), bool))


@SAMPLER
def sample_temporal_order(key, batch_size: int, T: int, dtype=jnp.float32) -> Batch:
    return batched(temporal_order_example, key, batch_size, T, dtype)


def last_step_accuracy(ys: jax.Array, batch: Batch) -> jax.Array:
    """Fraction of sequences whose last-step argmax equals the label."""
    return jnp.mean(jnp.argmax(ys[:, -1, :], axis=-1) == batch.targets[:, -1])
