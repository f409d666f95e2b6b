"""Seeds sharded across devices (plastix.parallel) give the single-device results, bitwise.

The two-device checks run in a subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` (XLA reads it when jax is first
imported, so it cannot be set inside this pytest process, which has one CPU device).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.parallel import pad_seeds, padded_size, run_segments_sharded, seed_mesh, shard_seeds, unpad_seeds
from plastix.train.supervised import SupervisedConfig, make_trainer, run_segments, seed_keys

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_rank_promotion", "raise")
    from plastix.parallel import run_segments_sharded, seed_devices
    from plastix.rl.trainer import RLConfig, make_trainer as make_rl
    from plastix.train.supervised import SupervisedConfig, make_trainer, run_segments, seed_keys

    SUP = SupervisedConfig(task="adding", core="elman", hidden=5, seq_len=5, batch_size=3, lr=1e-2,
                           num_updates=4, updates_per_log=2, eval_batch_size=4)
    RL = RLConfig(task="bandit", preset="meta", env_settings=(("episode_length", 3),), core="elman", hidden=3,
                  batch_size=2, lr=1e-2, num_updates=4, updates_per_log=2)

    def compare(trainer, seeds):
        keys = seed_keys(seeds)
        one, m_one = run_segments(trainer, keys, [1, 1], shard=False)
        two, m_two = run_segments_sharded(trainer, keys, [1, 1])
        auto, m_auto = run_segments(trainer, keys, [1, 1])  # the default path of plastix train
        saved = []
        _, m_hooked = run_segments(trainer, keys, [1, 1], after_segment=lambda d, s, m: saved.append((d, s)))
        pairs = list(zip(jax.tree.leaves(one), jax.tree.leaves(two), strict=True))
        return {
            "devices": len(jax.devices()),
            "leaves": len(pairs),
            "leaves_equal": sum(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in pairs),
            "max_abs_diff": max(float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)))) for a, b in pairs),
            # equal_nan: the plasticity diagnostics are NaN where a core has no such quantity
            "metrics_equal": all(np.array_equal(m_one[k], m_two[k], equal_nan=True) for k in m_one),
            "auto_equal": all(np.array_equal(np.asarray(a), np.asarray(b))
                              for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(auto), strict=True))
                          and all(np.array_equal(m_one[k], m_auto[k], equal_nan=True) for k in m_one),
            "auto_sharded": sorted(d.id for d in seed_devices(auto)),
            "hook_calls": [d for d, _ in saved],
            "hook_state_equal": all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
                                    zip(jax.tree.leaves(saved[-1][1]), jax.tree.leaves(one), strict=True)),
            "state_devices": sorted(d.id for d in seed_devices(two)),
            "one_device": sorted(d.id for d in seed_devices(one)),
            # seeds held by each device, for every leaf (a leaf split in two halves: [[0,1],[1,2]])
            "shard_rows": sorted({tuple(sorted((s.device.id, s.index[0].start or 0, s.index[0].stop or len(seeds))
                                               for s in leaf.addressable_shards)) for leaf in jax.tree.leaves(two)}),
            "seed_axis": int(jax.tree.leaves(two)[0].shape[0]),
        }

    print(json.dumps({"supervised": compare(make_trainer(SUP), [0, 1, 2]), "rl": compare(make_rl(RL), [5, 6, 7, 8])}))
    """
)


@pytest.fixture(scope="module")
def two_device_results():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_devices_equal_one_device_supervised_with_padding(two_device_results):
    """3 seeds on 2 devices (padded to 4, the pad dropped) = 3 seeds on one device, every leaf."""
    r = two_device_results["supervised"]
    assert r["devices"] == 2
    assert r["leaves_equal"] == r["leaves"] and r["max_abs_diff"] == 0.0
    assert r["metrics_equal"]
    assert r["seed_axis"] == 3
    assert r["state_devices"] == [0, 1] and r["one_device"] == [0]
    # run_segments itself (what plastix train calls) shards by default, with the checkpoint hook
    assert r["auto_equal"] and r["auto_sharded"] == [0, 1]
    assert r["hook_calls"] == [1, 2] and r["hook_state_equal"]


@pytest.mark.slow
def test_two_devices_equal_one_device_rl_and_really_split(two_device_results):
    """4 policy-gradient seeds: bitwise equal, and every leaf holds seeds 0-1 on device 0, 2-3 on device 1."""
    r = two_device_results["rl"]
    assert r["leaves_equal"] == r["leaves"] and r["max_abs_diff"] == 0.0
    assert r["metrics_equal"]
    assert r["state_devices"] == [0, 1]
    assert r["shard_rows"] == [[[0, 0, 2], [1, 2, 4]]]


def test_pad_and_unpad_seeds():
    tree = {"a": jnp.arange(3), "b": jnp.arange(6.0).reshape(3, 2)}
    assert padded_size(3, 2) == 4 and padded_size(4, 2) == 4 and padded_size(1, 4) == 4
    # at least min(S, min_block) seeds per device: 2 seeds on 2 devices -> 2 + 2 (2 pads)
    assert padded_size(2, 2, min_block=2) == 4 and padded_size(1, 2, min_block=2) == 2
    assert padded_size(5, 2, min_block=2) == 6 and padded_size(2, 2, min_block=1) == 2
    padded = pad_seeds(tree, 4)
    np.testing.assert_array_equal(padded["a"], [0, 1, 2, 2])
    np.testing.assert_array_equal(padded["b"], [[0, 1], [2, 3], [4, 5], [4, 5]])
    back = unpad_seeds(padded, 3)
    np.testing.assert_array_equal(back["b"], tree["b"])
    with pytest.raises(PlastixError, match="pad"):
        pad_seeds(tree, 2)


def test_shard_seeds_rejects_indivisible_axis():
    mesh = seed_mesh([jax.devices()[0], jax.devices()[0]])  # a 2-entry mesh, one physical device
    with pytest.raises(PlastixError, match="divisible by the 2 devices"):
        shard_seeds({"a": jnp.zeros((3, 2))}, mesh)
    with pytest.raises(PlastixError, match="at least one device"):
        seed_mesh([])


@pytest.mark.slow
def test_one_device_mesh_equals_run_segments():
    """On the single device of this process, run_segments_sharded is run_segments (bitwise)."""
    config = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=4, batch_size=2, lr=1e-2,
                              num_updates=2, updates_per_log=1, eval_batch_size=3)
    trainer = make_trainer(config)
    keys = seed_keys([3, 4])
    calls = []
    a, ma = run_segments(trainer, keys, [1, 1])
    b, mb = run_segments_sharded(trainer, keys, [1, 1], on_segment=lambda done, part: calls.append((done, part["step"].shape)))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    for k in ma:
        np.testing.assert_array_equal(ma[k], mb[k])
    assert calls == [(1, (2, 1)), (2, (2, 1))]
    # continuing given states (e.g. restored from a checkpoint) = the uninterrupted run
    mid, _ = run_segments(trainer, keys, [1])
    c, mc = run_segments_sharded(trainer, keys, [1], states=mid)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(c), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(mc["charts/eval_metric"], ma["charts/eval_metric"][:, 1:])
