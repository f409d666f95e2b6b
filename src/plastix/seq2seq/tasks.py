"""Sequence-to-sequence tasks generated on the fly: ``reversal``, ``sorting`` and ``addition``.

One vocabulary serves source and target::

    PAD = 0, EOS = 1, BOS = 2 (the decoder's first input), digits 0..9 = tokens 3..12, "+" = 13

    reversal   3 1 4 1 5       ->  5 1 4 1 3 EOS
    sorting    3 1 4 1 5       ->  1 1 3 4 5 EOS
    addition   1 2 3 + 8 9     ->  2 1 2 EOS          (operands of n_a, n_b digits, no leading zero)

A problem of length n (reversal, sorting: n digits; addition: each operand n_a, n_b digits, drawn
independently) is drawn with n uniform in [min_len, max_len]. Arrays are padded to the longest
problem of the range: sources to ``source_size(task, max_len)``, targets (EOS included) to
``target_size(task, max_len)``.

**Held-out problems.** A problem is *held out* when the hash h(x) = Σ_i w_i · value(x_i) mod 10
of its source digits is 0 (w_i = 1, 3, 7, 9 repeating over the positions i; "+" counts 0). The
training sampler never draws one (it moves a held-out source's last digit d to d + 1 mod 10, which
changes h by w_last, a unit mod 10); the evaluation sampler draws only those (it sets the last
digit to the one solving h = 0). About 10 % of the problems of each length are held out, so a
model is scored on problems it has never seen, at the trained lengths and beyond.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.errors import PlastixError, check_positive_int, unknown_name

PAD, EOS, BOS = 0, 1, 2
DIGIT0 = 3  # token of the digit 0
PLUS = 13
VOCAB = 14
SEQ2SEQ_TASKS = ("reversal", "sorting", "addition")
TASK_DESCRIPTIONS = {
    "reversal": "Reverse a string of digits (encoder-decoder; exact match of the whole output).",
    "sorting": "Sort a string of digits (encoder-decoder; exact match of the whole output).",
    "addition": "Add two numbers written as digit strings, '123+89' -> '212' (encoder-decoder; exact match).",
}
HASH_WEIGHTS = (1, 3, 7, 9)  # units mod 10: changing any one digit changes the hash


class Seq2SeqBatch(NamedTuple):
    """A batch of problems (leading axis B); a single problem has no leading axis."""

    src: jax.Array  # (B, S) int32 source tokens, PAD after src_len
    src_len: jax.Array  # (B,) int32 valid source tokens
    tgt: jax.Array  # (B, T) int32 target tokens, EOS at tgt_len − 1, PAD after
    tgt_len: jax.Array  # (B,) int32 target tokens including EOS


def check_task(task: str) -> str:
    if task not in SEQ2SEQ_TASKS:
        raise unknown_name("seq2seq task", task, SEQ2SEQ_TASKS)
    return task


def check_lengths(min_len: int, max_len: int) -> None:
    check_positive_int("min_len", min_len)
    check_positive_int("max_len", max_len)
    if min_len > max_len:
        raise PlastixError(f"min_len must be at most max_len, got min_len {min_len} > max_len {max_len}.")
    if max_len > 64:
        raise PlastixError(f"max_len must be at most 64 (problems are padded to it), got {max_len}.")


def source_size(task: str, max_len: int) -> int:
    """S: source tokens of the longest problem (addition: two operands and "+")."""
    return 2 * max_len + 1 if check_task(task) == "addition" else max_len


def target_size(task: str, max_len: int) -> int:
    """T: target tokens of the longest problem, EOS included (addition: a carry digit more)."""
    return max_len + 2 if check_task(task) == "addition" else max_len + 1


def digits_hash(values, valid):
    """h = Σ_i w_i value_i mod 10 over the valid positions (values: (S,) digit values)."""
    w = jnp.asarray(HASH_WEIGHTS, jnp.int32)[jnp.arange(values.shape[0]) % len(HASH_WEIGHTS)]
    return jnp.sum(jnp.where(valid, w * values, 0)) % 10


def fix_last_digit(values, valid, last, held_out: bool):
    """Move the digit at position ``last`` so that the problem is held out (h = 0) or not (h ≠ 0)."""
    w = jnp.asarray(HASH_WEIGHTS, jnp.int32)[last % len(HASH_WEIGHTS)]
    h = digits_hash(values, valid)
    d = values[last]
    if held_out:
        inverse = jnp.asarray([0, 1, 0, 7, 0, 0, 0, 3, 0, 9], jnp.int32)[w]  # w · w⁻¹ ≡ 1 mod 10
        rest = (h - w * d) % 10
        new = (-rest * inverse) % 10  # w · new + rest ≡ 0
    else:
        new = jnp.where(h == 0, (d + 1) % 10, d)
    return values.at[last].set(new.astype(values.dtype))


def _tokens(values, valid):
    return jnp.where(valid, values + DIGIT0, PAD).astype(jnp.int32)


def _target(digits, n, size: int):
    """digits (m,) values, first n valid -> (size,) tokens: digits, EOS, PAD."""
    j = jnp.arange(size)
    body = digits[jnp.clip(j, 0, digits.shape[0] - 1)] + DIGIT0
    return jnp.where(j < n, body, jnp.where(j == n, EOS, PAD)).astype(jnp.int32)


def sample_string(key, task: str, min_len: int, max_len: int, held_out: bool) -> Seq2SeqBatch:
    """One reversal or sorting problem (unbatched)."""
    S = source_size(task, max_len)
    k_n, k_d = jax.random.split(key)
    n = jax.random.randint(k_n, (), min_len, max_len + 1, jnp.int32)
    valid = jnp.arange(S) < n
    values = fix_last_digit(jax.random.randint(k_d, (S,), 0, 10, jnp.int32), valid, n - 1, held_out)
    if task == "reversal":
        out = values[jnp.clip(n - 1 - jnp.arange(S), 0, S - 1)]
    else:
        out = jnp.sort(jnp.where(valid, values, 10))
    return Seq2SeqBatch(_tokens(values, valid), n, _target(out, n, target_size(task, max_len)), n + 1)


def add_digits(a_rev, b_rev):
    """Sum of two numbers given as least-significant-first digit vectors (m,) -> (m + 1,) digits."""
    def column(carry, ab):
        s = ab[0] + ab[1] + carry
        return s // 10, s % 10

    carry, low = lax.scan(column, jnp.zeros((), jnp.int32), jnp.stack([a_rev, b_rev], axis=1))
    return jnp.concatenate([low, carry[None]])


def _operand(key, n, m: int):
    """Least-significant-first digits (m,) of a number of n digits (no leading zero unless n = 1)."""
    k1, k2 = jax.random.split(key)
    rev = jax.random.randint(k1, (m,), 0, 10, jnp.int32)
    lead = jax.random.randint(k2, (), jnp.where(n > 1, 1, 0), 10, jnp.int32)
    rev = jnp.where(jnp.arange(m) == n - 1, lead, rev)
    return jnp.where(jnp.arange(m) < n, rev, 0)


def sample_addition(key, min_len: int, max_len: int, held_out: bool) -> Seq2SeqBatch:
    """One addition problem "a+b" -> digits of a + b (unbatched)."""
    m, S = max_len, source_size("addition", max_len)
    k_na, k_nb, k_a, k_b = jax.random.split(key, 4)
    na = jax.random.randint(k_na, (), min_len, max_len + 1, jnp.int32)
    nb = jax.random.randint(k_nb, (), min_len, max_len + 1, jnp.int32)
    a_rev, b_rev = _operand(k_a, na, m), _operand(k_b, nb, m)
    i = jnp.arange(S)
    # source values: a most-significant first, "+" (value 0), b most-significant first
    a_part = a_rev[jnp.clip(na - 1 - i, 0, m - 1)]
    b_part = b_rev[jnp.clip(na + nb - i, 0, m - 1)]
    values = jnp.where(i < na, a_part, jnp.where(i == na, 0, b_part))
    n = na + nb + 1
    digit_pos = (i < n) & (i != na)
    values = fix_last_digit(values, digit_pos, n - 1, held_out)
    b_rev = jnp.where(jnp.arange(m) == 0, values[n - 1], b_rev)  # the last source digit is b's units digit
    total = add_digits(a_rev, b_rev)  # (m + 1,) least significant first
    length = jnp.max(jnp.where(total > 0, jnp.arange(m + 1, dtype=jnp.int32) + 1, 1))
    out = total[jnp.clip(length - 1 - jnp.arange(m + 1), 0, m)]
    src = jnp.where(i == na, PLUS, _tokens(values, i < n))
    return Seq2SeqBatch(src.astype(jnp.int32), n, _target(out, length, target_size("addition", max_len)), length + 1)


def sample_problem(key, task: str, min_len: int, max_len: int, held_out: bool = False) -> Seq2SeqBatch:
    """One problem of ``task`` with length in [min_len, max_len] (static ints)."""
    if check_task(task) == "addition":
        return sample_addition(key, min_len, max_len, held_out)
    return sample_string(key, task, min_len, max_len, held_out)


def sample_batch(key, task: str, batch_size: int, min_len: int, max_len: int, held_out: bool = False) -> Seq2SeqBatch:
    """B problems (vmapped ``sample_problem``); ``held_out``: only held-out problems (evaluation)."""
    keys = jax.random.split(key, batch_size)
    return jax.vmap(lambda k: sample_problem(k, task, min_len, max_len, held_out))(keys)


def render(tokens) -> str:
    """Tokens -> text up to the first EOS ("123+89"); PAD shown as nothing, BOS as "^"."""
    chars = []
    for t in [int(t) for t in tokens]:
        if t == EOS:
            break
        chars.append("" if t == PAD else "^" if t == BOS else "+" if t == PLUS else str(t - DIGIT0))
    return "".join(chars)
