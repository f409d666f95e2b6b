"""Hopfield networks (plastix.hopfield): storage rules against NumPy and hand-computed values,
the energy never rising under asynchronous updates, recall below capacity, the modern update as
one step of softmax attention, the capacity measurement and the ``plastix hopfield`` command."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plastix.cli import main
from plastix.errors import PlastixError
from plastix.hopfield import (
    CapacitySettings,
    async_sweep,
    capacity_curve,
    collapse_load,
    energy,
    flip_bits,
    hebbian,
    modern,
    overlap,
    pseudo_inverse,
    random_patterns,
    run_async,
    store,
    storkey,
    sync_update,
)


def np_patterns(seed, P, N):
    return np.where(np.random.default_rng(seed).random((P, N)) < 0.5, 1.0, -1.0)


def stable_fraction(W, patterns):
    """Fraction of patterns that are fixed points: sgn(W ξ) = ξ on every bit (NumPy)."""
    fields = np.asarray(patterns) @ np.asarray(W).T
    return float(np.mean(np.all(fields * np.asarray(patterns) > 0, axis=1)))


# ---------------------------------------------------------------- classical network


def test_hebbian_hand_computed_example():
    # ξ¹ = (1, 1, −1, −1), ξ² = (1, −1, 1, −1), N = 4. Σ_μ ξ^μ_i ξ^μ_j is 0 for every pair
    # but (1, 4) and (2, 3), where it is (−1) + (−1) = −2; divided by N = 4: −½.
    xi = jnp.array([[1.0, 1, -1, -1], [1, -1, 1, -1]])
    W = hebbian(xi)
    expected = np.zeros((4, 4))
    expected[0, 3] = expected[3, 0] = expected[1, 2] = expected[2, 1] = -0.5
    np.testing.assert_array_equal(W, expected)
    # E(ξ¹) = −½ Σ_ij w_ij s_i s_j = −(w_14 s_1 s_4 + w_23 s_2 s_3) = −(½ + ½) = −1
    assert float(energy(W, xi[0])) == -1.0
    # W ξ¹ = ξ¹/2: both patterns are fixed points of the synchronous update
    np.testing.assert_array_equal(sync_update(W, xi[0]), xi[0])
    np.testing.assert_array_equal(sync_update(W, xi[1]), xi[1])
    # from s = (1, 1, 1, −1): h = W s = (½, −½, −½, −½) -> (1, −1, −1, −1)
    np.testing.assert_array_equal(sync_update(W, jnp.array([1.0, 1, 1, -1])), [1, -1, -1, -1])
    # a zero field keeps the unit's state: W = 0 changes nothing
    s = jnp.array([1.0, -1, 1, 1])
    np.testing.assert_array_equal(sync_update(jnp.zeros((4, 4)), s), s)


def np_storkey(patterns):
    """Storkey (1997) by explicit loops: h_ij = Σ_{k≠i,j} w_ik ξ_k, then the three terms."""
    P, N = patterns.shape
    W = np.zeros((N, N))
    for xi in patterns:
        h = np.array([[sum(W[i, k] * xi[k] for k in range(N) if k not in (i, j)) for j in range(N)] for i in range(N)])
        new = W.copy()
        for i in range(N):
            for j in range(N):
                if i != j:
                    new[i, j] = W[i, j] + (xi[i] * xi[j] - xi[i] * h[j, i] - h[i, j] * xi[j]) / N
        W = new
    return W


def test_storkey_matches_a_numpy_loop():
    patterns = np_patterns(0, 4, 7)
    np.testing.assert_allclose(storkey(jnp.asarray(patterns)), np_storkey(patterns), rtol=0, atol=1e-12)
    # one pattern from W = 0: every h_ij = 0, so Storkey stores it like Hebb
    np.testing.assert_allclose(storkey(jnp.asarray(patterns[:1])), hebbian(jnp.asarray(patterns[:1])), atol=1e-15)


def test_pseudo_inverse_matches_numpy_and_projects():
    patterns = np_patterns(1, 6, 20)
    Xi = patterns.T  # (N, P)
    full = Xi @ np.linalg.pinv(Xi.T @ Xi) @ Xi.T  # the projector onto the patterns' span
    expected = full - np.diag(np.diag(full))
    W = np.asarray(pseudo_inverse(jnp.asarray(patterns)))
    np.testing.assert_allclose(W, expected, rtol=0, atol=1e-12)
    # W ξ^μ = (1 − P_ii) ξ^μ for every pattern (the projector keeps ξ^μ)
    np.testing.assert_allclose(W @ Xi, (1 - np.diag(full))[:, None] * Xi, atol=1e-12)
    # an all-zero pattern changes nothing (the capacity experiment pads with them)
    padded = np.concatenate([patterns, np.zeros((3, 20))])
    np.testing.assert_allclose(pseudo_inverse(jnp.asarray(padded)), W, atol=1e-10)
    np.testing.assert_allclose(storkey(jnp.asarray(padded)), storkey(jnp.asarray(patterns)), atol=1e-12)


def test_stored_patterns_are_fixed_points_below_capacity():
    # α = 5/200 = 0.025: a bit is wrong with probability ½ erfc(√(1/2α)) ≈ 1e-10 (Hertz et al. 1991, eq. 2.16)
    patterns = random_patterns(jax.random.PRNGKey(0), 5, 200, jnp.float64)
    for rule in ("hebbian", "storkey", "pseudo-inverse"):
        assert stable_fraction(store(rule, patterns), patterns) == 1.0, rule


def test_storkey_and_pseudo_inverse_store_where_hebb_fails():
    # N = 100, P = 20 (α = 0.2, above 0.138): a Hebbian bit is wrong with probability
    # ½ erfc(√2.5) ≈ 0.013, so a whole pattern is stable with probability ≈ 0.987^100 ≈ 0.28.
    patterns = random_patterns(jax.random.PRNGKey(1), 20, 100, jnp.float64)
    assert stable_fraction(hebbian(patterns), patterns) <= 0.5
    assert stable_fraction(storkey(patterns), patterns) >= 0.9
    assert stable_fraction(pseudo_inverse(patterns), patterns) == 1.0
    # and at α = 0.5 only the projection rule still holds every pattern
    patterns = random_patterns(jax.random.PRNGKey(2), 30, 60, jnp.float64)
    assert stable_fraction(hebbian(patterns), patterns) == 0.0
    assert stable_fraction(pseudo_inverse(patterns), patterns) == 1.0


def random_symmetric(seed, N):
    A = np.random.default_rng(seed).normal(size=(N, N))
    W = (A + A.T) / 2
    np.fill_diagonal(W, 0.0)
    return W


SWEEP = jax.jit(async_sweep)


@settings(max_examples=12, deadline=None)
@given(N=st.sampled_from([2, 5, 12]), seed=st.integers(0, 2**16))
def test_asynchronous_updates_never_raise_the_energy(N, seed):
    W = jnp.asarray(random_symmetric(seed, N))
    rng = np.random.default_rng(seed + 1)
    s0 = np.where(rng.random(N) < 0.5, 1.0, -1.0)
    order = np.concatenate([rng.permutation(N), rng.permutation(N)])  # two sweeps
    state, ref = jnp.asarray(s0), s0.copy()
    energies = [float(energy(W, state))]
    for i in order:  # one single-unit update at a time
        state = SWEEP(W, state, jnp.asarray([i]))
        h = np.asarray(W)[i] @ ref  # the NumPy loop: unit i sees the updates before it
        ref[i] = 1.0 if h > 0 else (-1.0 if h < 0 else ref[i])
        np.testing.assert_array_equal(state, ref)
        energies.append(float(energy(W, state)))
    assert all(b <= a + 1e-12 for a, b in zip(energies, energies[1:])), energies
    # the same two sweeps in one call
    np.testing.assert_array_equal(SWEEP(W, jnp.asarray(s0), jnp.asarray(order)), ref)


def test_run_async_ends_in_a_fixed_point_and_vmaps():
    W = jnp.asarray(random_symmetric(3, 30))
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    starts = jnp.where(jax.random.bernoulli(jax.random.PRNGKey(1), 0.5, (4, 30)), 1.0, -1.0)
    batch = jax.jit(jax.vmap(run_async, in_axes=(None, 0, 0)))(W, starts, keys)
    for b in range(4):
        one = run_async(W, starts[b], keys[b])
        np.testing.assert_array_equal(batch.s[b], one.s)
        assert bool(one.converged)
        np.testing.assert_array_equal(sync_update(W, one.s), one.s)  # no unit wants to flip


def test_recall_from_a_corrupted_cue_at_low_load():
    N, P = 200, 10  # α = 0.05, cues with 10 % of the bits flipped
    patterns = random_patterns(jax.random.PRNGKey(4), P, N, jnp.float64)
    W = hebbian(patterns)
    cues = jax.vmap(flip_bits, in_axes=(0, 0, None))(jax.random.split(jax.random.PRNGKey(5), P), patterns, 0.1)
    np.testing.assert_allclose(jax.vmap(overlap)(patterns, cues), 0.8)  # 20 of 200 bits flipped: m = 1 − 2·0.1
    final = jax.vmap(run_async, in_axes=(None, 0, 0))(W, cues, jax.random.split(jax.random.PRNGKey(6), P)).s
    np.testing.assert_array_equal(final, patterns)


def test_flip_bits_flips_exactly_the_rounded_number():
    xi = jnp.ones((50,))
    for fraction, flipped in ((0.0, 0), (0.1, 5), (0.33, 16), (0.5, 25)):
        assert int(jnp.sum(flip_bits(jax.random.PRNGKey(7), xi, fraction) < 0)) == flipped


def test_bad_input():
    with pytest.raises(PlastixError, match="Did you mean 'storkey'"):
        store("storky", jnp.ones((2, 3)))
    with pytest.raises(PlastixError, match=r"\(P, N\)"):
        store("hebbian", jnp.ones((3,)))
    with pytest.raises(PlastixError, match="flip"):
        capacity_curve(jax.random.PRNGKey(0), "hebbian", 10, (0.1,), settings=CapacitySettings(flip=0.9))
    with pytest.raises(PlastixError, match="unknown Hopfield model"):
        capacity_curve(jax.random.PRNGKey(0), "boltzmann", 10, (0.1,))


# ---------------------------------------------------------------- modern network


def test_modern_update_is_one_attention_step():
    rng = np.random.default_rng(0)
    X, xi, beta = rng.normal(size=(7, 5)), rng.normal(size=5), 0.7
    # NumPy: softmax over the stored patterns of β xᵢᵀ ξ, then the weighted sum of patterns
    z = beta * X @ xi
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    np.testing.assert_allclose(modern.update(jnp.asarray(X), jnp.asarray(xi), beta), p @ X, rtol=1e-12)
    # jax.nn.dot_product_attention: query ξ, keys = values = X, scale β (shapes (B, T, heads, d));
    # its XLA softmax is not exact to float64 rounding (differences ~1e-8), hence the looser tolerance
    attn = jax.nn.dot_product_attention(jnp.asarray(xi)[None, None, None, :], jnp.asarray(X)[None, :, None, :],
                                        jnp.asarray(X)[None, :, None, :], scale=beta)
    np.testing.assert_allclose(modern.update(jnp.asarray(X), jnp.asarray(xi), beta), attn[0, 0, 0], rtol=1e-6)
    # a mask leaves patterns out: the same as attention over the kept ones
    mask = np.array([True, False, True, True, False, True, True])
    np.testing.assert_allclose(modern.update(jnp.asarray(X), jnp.asarray(xi), beta, jnp.asarray(mask)),
                               modern.update(jnp.asarray(X[mask]), jnp.asarray(xi), beta), rtol=1e-12)


ENERGY, UPDATE = jax.jit(modern.energy), jax.jit(modern.update)


@settings(max_examples=12, deadline=None)
@given(P=st.sampled_from([1, 3, 8]), d=st.sampled_from([1, 5]), beta=st.floats(0.1, 4.0), seed=st.integers(0, 2**16))
def test_modern_update_never_raises_the_energy(P, d, beta, seed):
    # Ramsauer et al. (2021), Theorem 1: the update (eq. 3) decreases E (eq. 2)
    rng = np.random.default_rng(seed)
    X, xi = jnp.asarray(rng.normal(size=(P, d))), jnp.asarray(rng.normal(size=d) * 2)
    E = [float(ENERGY(X, xi, beta))]
    for _ in range(3):
        xi = UPDATE(X, xi, beta)
        E.append(float(ENERGY(X, xi, beta)))
    assert all(b <= a + 1e-10 for a, b in zip(E, E[1:])), E
    # E is bounded below by 0 (the paper's constants make it non-negative at the patterns' scale)
    assert min(E) >= -1e-10


def test_modern_network_recalls_far_beyond_the_classical_capacity():
    d, P = 64, 640  # P = 10 d, seventy times 0.138 d
    patterns = random_patterns(jax.random.PRNGKey(8), P, d, jnp.float64)
    cues = jax.vmap(flip_bits, in_axes=(0, 0, None))(jax.random.split(jax.random.PRNGKey(9), 20), patterns[:20], 0.1)
    out = jax.vmap(lambda c: modern.update(patterns, c, 1.0))(cues)
    assert float(jnp.min(jax.vmap(overlap)(patterns[:20], out))) > 0.99
    # the classical network at that load holds nothing
    assert stable_fraction(hebbian(patterns), patterns) == 0.0


# ---------------------------------------------------------------- capacity


def test_collapse_load_interpolates_the_drop():
    # between (0.2, 0.8) and (0.3, 0.2) the line reaches 0.5 at 0.2 + 0.1 · 0.3 / 0.6 = 0.25
    assert collapse_load([0.1, 0.2, 0.3], [1.0, 0.8, 0.2]) == pytest.approx(0.25)
    assert collapse_load([0.1, 0.2], [1.0, 0.9]) is None
    assert collapse_load([0.1, 0.2], [0.4, 0.1]) == 0.1


def test_capacity_curve_small():
    rows = capacity_curve(jax.random.PRNGKey(0), "hebbian", 50, (0.04, 0.6), draws=3,
                          settings=CapacitySettings(probes=5))
    assert [(r["P"], r["load"]) for r in rows] == [(2, 0.04), (30, 0.6)]
    assert rows[0]["recalled"] == 1.0 and rows[0]["overlap"] == 1.0  # 2 patterns in 50 units
    assert rows[1]["recalled"] < 0.5 and rows[1]["overlap"] < 0.9  # α = 0.6, far above 0.138
    modern_rows = capacity_curve(jax.random.PRNGKey(0), "modern", 50, (0.6, 4.0), draws=2,
                                 settings=CapacitySettings(probes=5, flip=0.1))
    assert all(r["recalled"] == 1.0 for r in modern_rows)


def test_hopfield_command_json(tmp_path, capsys):
    out = tmp_path / "cap.png"
    code = main(["hopfield", "capacity", "--n", "24", "--draws", "2", "--rules", "hebbian", "modern",
                 "--loads", "0.05", "0.6", "--modern-loads", "2", "--probes", "3", "--json", "--out", str(out)])
    assert code == 0
    result = json.loads(capsys.readouterr().out)  # stdout is one JSON object
    assert [(r["model"], r["P"]) for r in result["rows"]] == [("hebbian", 1), ("hebbian", 14), ("modern", 48)]
    hebb = result["rows"][:2]
    assert hebb[0]["recalled"] == 1.0 and hebb[1]["recalled"] < 0.5
    assert result["collapse"]["hebbian"]["24"] == pytest.approx(collapse_load([r["load"] for r in hebb],
                                                                              [r["recalled"] for r in hebb]))
    assert result["collapse"]["modern"]["24"] is None
    assert result["settings"]["threshold"] == 0.967 and result["out"] == str(out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_hopfield_command_errors(capsys):
    assert main(["hopfield", "capacity", "--rules", "hebian"]) == 2
    assert "Did you mean 'hebbian'" in capsys.readouterr().err
    assert main(["hopfield", "capacity", "--threshold", "1.5", "--out", "None"]) == 2


def test_hopfield_command_table_fits_80_columns(tmp_path, capsys):
    """Without --json: one table per model and its collapse line, no line wider than 80."""
    code = main(["hopfield", "capacity", "--n", "24", "--draws", "2", "--rules", "hebbian", "--loads", "0.05", "0.6",
                 "--probes", "3", "--out", str(tmp_path / "cap.png")])
    out = capsys.readouterr().out
    assert code == 0 and "hebbian: fraction" in out and "P/N" in out and "N = 24" in out  # the title wraps to the table
    assert "hebbian: recalled fraction falls below 1/2 at P/N ≈ N = 24:" in out
    table = [line for line in out.splitlines() if not line.startswith("wrote ")]  # a path does not wrap
    assert max(len(line) for line in table) <= 80
