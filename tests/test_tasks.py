"""Sequence-task generators against independent NumPy / Python references, and their
baselines against Monte Carlo estimates."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.tasks import SEQUENCE_TASKS, copy_loss_baseline, get_task
from plastix.tasks.reber import REBER_SYMBOLS, decode, reber_all_correct, reber_example
from plastix.tasks.sequence import adding_example, copy_example, temporal_order_example

KEY = jax.random.PRNGKey(0)


def np_batch(name, n, T, key=KEY):
    b = get_task(name).sample(key, n, T, jnp.float64)
    return tuple(np.asarray(a) for a in b)


def test_adding_targets_are_the_sum_of_the_marked_values():
    T = 17
    xs, targets, weights, resets = np_batch("adding", 200, T)
    for x, y, w in zip(xs, targets, weights, strict=True):
        marks = np.flatnonzero(x[:, 1])
        assert len(marks) == 2 and set(x[:, 1]) <= {0.0, 1.0}
        assert marks[0] < T // 2 <= marks[1]  # one in each half (Arjovsky et al. 2016)
        assert np.all((0 <= x[:, 0]) & (x[:, 0] < 1))
        expected = np.zeros((T, 1))
        expected[-1, 0] = x[marks[0], 0] + x[marks[1], 0]
        np.testing.assert_allclose(y, expected, rtol=1e-12)
        np.testing.assert_array_equal(w, np.eye(T)[-1])
    assert not resets.any()


def test_adding_baseline_is_var_of_the_sum_by_monte_carlo():
    # Constant prediction E[s] = 1; MSE = Var(U1 + U2) = 1/6. sd of (s-1)^2 is ~0.197,
    # so with 40,000 draws the standard error is ~0.001.
    task = get_task("adding")
    batch = task.sample(KEY, 40_000, 10, jnp.float64)
    ys = jnp.ones_like(batch.targets)
    mc = float(task.metric_fn(ys, batch))
    assert abs(mc - task.baseline(10)) < 0.005
    assert task.baseline(100) == pytest.approx(1 / 6)


def test_copy_sequences_and_targets():
    T = 7
    xs, targets, weights, _ = np_batch("copy", 100, T)
    L = T + 20
    for x, y, w in zip(xs, targets, weights, strict=True):
        assert np.all(x.sum(1) == 1)  # one-hot
        seq = x.argmax(1)
        symbols = seq[:10]
        assert np.all((1 <= symbols) & (symbols <= 8))
        expect_in = np.concatenate([symbols, np.zeros(T - 1), [9], np.zeros(10)])
        np.testing.assert_array_equal(seq, expect_in)
        np.testing.assert_array_equal(y, np.concatenate([np.zeros(T + 10), symbols]))
        np.testing.assert_allclose(w, np.full(L, 1 / L))


def test_copy_baselines():
    task = get_task("copy")
    T = 5
    batch = task.sample(KEY, 20_000, T, jnp.float64)
    guess = jnp.zeros(batch.targets.shape + (9,)).at[..., 3].set(1.0)  # always symbol 3
    assert abs(float(task.metric_fn(guess, batch)) - 1 / 8) < 0.01  # se ~0.0007
    # "blank, then uniform over the 8 symbols": cross-entropy 10 log 8 / (T + 20)
    logits = np.full(batch.targets.shape[1:] + (9,), -np.inf)
    logits[: T + 10, 0] = 0.0
    logits[T + 10 :, 1:] = 0.0
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    tg = np.asarray(batch.targets[0])
    xent = -np.mean(logp[np.arange(T + 20), tg])
    assert xent == pytest.approx(copy_loss_baseline(T), rel=1e-12)
    assert copy_loss_baseline(T) == pytest.approx(10 * np.log(8) / 25)


def test_temporal_order_class_is_the_order_of_x_and_y():
    T = 40
    xs, targets, weights, _ = np_batch("temporal-order", 300, T)
    classes = {"XX": 0, "XY": 1, "YX": 2, "YY": 3}  # Q, R, S, U in H&S 1997 exp. 6a
    seen = set()
    for x, y, w in zip(xs, targets, weights, strict=True):
        s = "".join("abcdBEXY"[i] for i in x.argmax(1))
        assert s[0] == "E" and s[-1] == "B" and set(s[1:-1]) <= set("abcdXY")
        pos = [i for i, c in enumerate(s) if c in "XY"]
        assert len(pos) == 2
        assert 4 <= pos[0] <= 8 and 20 <= pos[1] <= 24  # [0.1T, 0.2T], [0.5T, 0.6T]
        label = classes[s[pos[0]] + s[pos[1]]]
        seen.add(label)
        assert y[-1] == label and np.all(y[:-1] == 0)
        np.testing.assert_array_equal(w, np.eye(T)[-1])
    assert seen == {0, 1, 2, 3}


def test_temporal_order_chance_is_a_quarter():
    task = get_task("temporal-order")
    batch = task.sample(KEY, 20_000, 20, jnp.float64)
    guess = jnp.zeros(batch.targets.shape + (4,)).at[..., 2].set(1.0)
    assert abs(float(task.metric_fn(guess, batch)) - 0.25) < 0.015
    assert task.baseline(20) == 0.25


# Reber (1967) grammar as a regular expression, derived by hand from the transition diagram
# (independent of the automaton tables in plastix.tasks.reber):
# L = (X T* V P)* (S | X T* V V) is the path from the state after "TS*X" to the end.
_L = r"(?:XT*VP)*(?:S|XT*VV)"
REBER = rf"B(?:TS*X{_L}|PT*V(?:V|P{_L}))E"
EMBEDDED = re.compile(rf"^B([TP]){REBER}\1E$")


def test_reber_strings_are_accepted_by_an_independent_recogniser():
    xs, _, weights, _ = np_batch("reber", 2000, 40)
    valid = weights.sum(1) > 0
    strings = [decode(x) for x in xs[valid]]
    assert valid.mean() > 0.99
    assert all(EMBEDDED.match(s) for s in strings)
    assert {s[1] for s in strings} == {"T", "P"}
    assert not EMBEDDED.match("BTBTXSEPE") and EMBEDDED.match("BTBTXSETE")


def test_reber_targets_are_the_legal_next_symbols():
    """Every observed continuation is in the target set, and for prefixes seen often enough
    the set of observed continuations equals the target set (a 50% branch is missed with
    probability 2^-29 over 30 draws)."""
    xs, targets, weights, _ = np_batch("reber", 3000, 40)
    seen: dict[str, set] = {}
    target_of: dict[str, frozenset] = {}
    count: dict[str, int] = {}
    for x, y, w in zip(xs, targets, weights, strict=True):
        if w.sum() == 0:
            continue
        s = decode(x)
        for t in range(len(s) - 1):
            prefix = s[: t + 1]
            legal = frozenset(REBER_SYMBOLS[k] for k in np.flatnonzero(y[t]))
            assert target_of.setdefault(prefix, legal) == legal
            assert s[t + 1] in legal
            seen.setdefault(prefix, set()).add(s[t + 1])
            count[prefix] = count.get(prefix, 0) + 1
        assert y[len(s) - 3].tolist() == [float(c == s[1]) for c in REBER_SYMBOLS]  # the long lag
        assert w[len(s) - 1 :].sum() == 0 and w[: len(s) - 1].sum() == pytest.approx(1.0)
    often = [p for p in count if count[p] >= 30]
    assert len(often) > 20
    assert all(seen[p] == set(target_of[p]) for p in often)


def test_reber_baseline_memoryless_predictor_gets_half_the_strings():
    task = get_task("reber")
    batch = task.sample(KEY, 20_000, 40, jnp.float64)
    xs, targets = np.asarray(batch.xs), np.asarray(batch.targets)
    assert float(reber_all_correct(jnp.asarray(targets), batch)) == 1.0
    # perfect grammar knowledge, but a coin flip for the second-to-last symbol (T or P)
    guess = targets.copy()
    lengths = (xs.sum(-1) > 0).sum(1)
    coin = np.asarray(jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (len(xs),)))
    rows = np.arange(len(xs))
    guess[rows, lengths - 3, 1:3] = np.stack([coin, ~coin], 1)
    mc = float(reber_all_correct(jnp.asarray(guess), batch))
    assert abs(mc - task.baseline(40)) < 0.015


EXAMPLES = {"adding": adding_example, "copy": copy_example, "temporal-order": temporal_order_example,
            "reber": reber_example}


@pytest.mark.slow
def test_jitted_vmapped_batch_equals_examples_drawn_one_by_one():
    assert set(EXAMPLES) == set(SEQUENCE_TASKS)
    for name, task in SEQUENCE_TASKS.items():
        T = task.min_T + 3
        batch = task.sample(KEY, 3, T)
        for i, k in enumerate(jax.random.split(KEY, 3)):
            one = jax.jit(EXAMPLES[name], static_argnums=(1, 2))(k, T, jnp.float32)
            for a, b in zip(batch, one, strict=True):
                np.testing.assert_array_equal(np.asarray(a[i]), np.asarray(b), err_msg=name)


def test_unknown_task_and_short_sequences_are_refused():
    with pytest.raises(PlastixError, match="Did you mean 'adding'"):
        get_task("addign")
    with pytest.raises(PlastixError, match="seq_len >= 9"):
        get_task("reber").check_T(5)


def test_reber_overflow_rate_matches_the_string_length_distribution():
    """Strings longer than T are dropped (zero weights). Their rate must match the exact tail
    P(length > T), computed here from the regular expression's language by brute-force
    enumeration of the embedded strings up to length T, each with probability 2^-(choices)."""
    T = 20
    # inner Reber strings with their number of binary choices, by depth-first expansion
    arcs = {0: [("B", 1)], 1: [("T", 2), ("P", 3)], 2: [("S", 2), ("X", 4)], 3: [("T", 3), ("V", 5)],
            4: [("X", 3), ("S", 6)], 5: [("P", 4), ("V", 6)], 6: [("E", None)]}
    mass = 0.0
    stack = [(0, "", 1.0)]
    while stack:
        state, s, p = stack.pop()
        if state is None:
            assert re.fullmatch(REBER, s)
            mass += p if len(s) + 4 <= T else 0.0  # embedded: B β <inner> β E
            continue
        if len(s) + 4 > T:
            continue
        for c, nxt in arcs[state]:
            stack.append((nxt, s + c, p / len(arcs[state])))
    _, _, weights, _ = np_batch("reber", 20_000, T)
    dropped = float(np.mean(weights.sum(1) == 0))
    assert abs(dropped - (1 - mass)) < 0.005  # exact 0.0284; MC standard error ~0.0012
