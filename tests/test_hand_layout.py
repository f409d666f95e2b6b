"""The episode layout of the plastic cores' hand-derived backward under vmap ("map": one episode at a
time, "vmap": vectorised) against autodiff through ``scan_core``, in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core, scan_core
from plastix.errors import PlastixError
from plastix.grads import hand
from plastix.grads.hand import hand_scan, set_episode_layout

N, D, T, B = 5, 3, 9, 3


def _data(seed, lead=()):
    rng = np.random.default_rng(seed)
    xs = jnp.asarray(rng.standard_normal((*lead, B, T, D)))
    resets = jnp.asarray(rng.uniform(size=(*lead, B, T)) < 0.2).at[..., 0].set(True)  # some mid-episode resets
    g = jnp.asarray(rng.standard_normal((*lead, B, T, N)))
    return xs, resets, g


def _params(core, seed):
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(core.init, jax.random.key(0))
    # scale 1.5 drives some Hebbian entries into the clip
    return jax.tree.map(lambda s: jnp.asarray(1.5 * rng.standard_normal(s.shape), s.dtype), shapes)


def _loss(scan, core):
    """Σ g ⊙ hs over a vmapped batch of episodes, hs from ``scan(p, xs (T, d), resets (T,))``."""
    return lambda p, xs, resets, g: jnp.sum(jax.vmap(lambda x, r: scan(p, x, r))(xs, resets) * g)


def _autodiff(core):
    return _loss(lambda p, x, r: scan_core(core, p, x, resets=r)[1], core)


def _hand(core):
    return _loss(lambda p, x, r: hand_scan(core, p, x, r), core)


@pytest.mark.parametrize("name,opts,layout", [
    # every rule under the default "map" layout is test_hand_bptt's vmapped float64 check
    *[("neuromod-rnn", {"modulation": "retroactive"}, layout) for layout in hand.EPISODE_LAYOUTS],
    ("neuromod-rnn", {"modulation": "simple", "alpha": "neuron"}, "map"),
    ("plastic-rnn", {"rule": "clip"}, "map"),
])
@pytest.mark.slow
def test_layouts_equal_autodiff_in_float64(name, opts, layout):
    core = make_core(name, D, N, dtype="float64", **opts)
    p, (xs, resets, g) = _params(core, 1), _data(2)
    want = jax.jit(jax.grad(_autodiff(core)))(p, xs, resets, g)
    previous = set_episode_layout(layout)
    try:
        got = jax.jit(jax.grad(_hand(core)))(p, xs, resets, g)
        hs = jax.jit(lambda p: jax.vmap(lambda x, r: hand_scan(core, p, x, r))(xs, resets))(p)
    finally:
        set_episode_layout(previous)
    np.testing.assert_allclose(hs, jax.vmap(lambda x, r: scan_core(core, p, x, resets=r)[1])(xs, resets), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_nested_vmap_over_seeds_and_episodes_equals_autodiff():
    """vmap(seeds) of vmap(episodes): the one-episode-at-a-time rule nests (a map of maps)."""
    core = make_core("neuromod-rnn", D, N, dtype="float64", modulation="retroactive")
    seeds = 2
    ps = jax.tree.map(lambda *v: jnp.stack(v), *[_params(core, s) for s in range(seeds)])
    xs, resets, g = _data(3, lead=(seeds,))
    want = jax.jit(jax.vmap(jax.grad(_autodiff(core))))(ps, xs, resets, g)
    previous = set_episode_layout("map")
    try:
        got = jax.jit(jax.vmap(jax.grad(_hand(core))))(ps, xs, resets, g)
    finally:
        set_episode_layout(previous)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_unknown_layout_is_an_error():
    with pytest.raises(PlastixError, match="episode layout must be one of"):
        set_episode_layout("chunks")
