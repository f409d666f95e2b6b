"""plastix.checkpoint: atomic save, exact restore (also in a fresh process), retention, partial
saves ignored, corrupt and incompatible checkpoints refused with the run directory untouched;
non-finite guards: a NaN gradient is skipped and counted, too many stop the run."""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from plastix import checkpoint
from plastix.errors import PlastixError
from plastix.runs import check_skipped
from plastix.train.harness import make_optimizer
from plastix.train.supervised import SupervisedConfig


def make_state(hidden=4, seeds=3, seed=0):
    """A TrainState-like pytree: float and int leaves, a raw and a typed key, a NamedTuple opt state."""
    k = jax.random.PRNGKey(seed)
    params = {"W": jax.random.normal(k, (seeds, hidden, hidden)), "b": jnp.arange(seeds * hidden, dtype=jnp.float32).reshape(seeds, hidden)}
    opt = optax.adam(1e-3)
    opt_state = jax.vmap(opt.init)(params)
    typed = jax.vmap(jax.random.key)(jnp.arange(seeds, dtype=jnp.uint32))
    return {"params": params, "opt": opt_state, "key": jax.random.split(k, seeds), "typed_key": typed,
            "update": jnp.arange(seeds, dtype=jnp.int32)}


def metrics(n=2, seeds=3):
    return {"step": np.tile(np.arange(1, n + 1) * 8, (seeds, 1)), "losses/x": np.arange(seeds * n, dtype=float).reshape(seeds, n)}


def dir_digest(path: Path) -> dict:
    """{relative path: sha256 of the bytes} of every file under ``path``."""
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def leaf_bytes(tree) -> list[bytes]:
    out = []
    for x in jax.tree.leaves(tree):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        out.append(np.asarray(x).tobytes())
    return out


def save(run_dir, state, step, keep=3, digest="abc"):
    return checkpoint.save(run_dir, state, metrics(), [0.5, 1.0], done=2, segment=1, step=step,
                           config_digest=digest, keep=keep)


def test_round_trip_is_bitwise_with_typed_keys(tmp_path):
    state = make_state()
    save(tmp_path, state, 16)
    restored = checkpoint.restore(tmp_path, jax.eval_shape(lambda: state), "abc")
    assert leaf_bytes(restored.state) == leaf_bytes(state)
    assert jax.tree.structure(restored.state) == jax.tree.structure(state)
    assert restored.state["typed_key"].dtype == state["typed_key"].dtype
    np.testing.assert_array_equal(restored.metrics["losses/x"], metrics()["losses/x"])
    assert (restored.done, restored.segment, restored.step) == (2, 1, 16)
    np.testing.assert_array_equal(restored.walls, [0.5, 1.0])


def test_restore_in_a_fresh_process_gives_every_leaf_equal(tmp_path):
    state = make_state(seed=5)
    save(tmp_path, state, 40)
    script = textwrap.dedent(f"""
        import hashlib, jax, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_checkpoint import make_state, leaf_bytes
        from plastix import checkpoint
        template = jax.eval_shape(lambda: make_state(seed=0))  # structure only: values come from disk
        got = checkpoint.restore({str(tmp_path)!r}, template, "abc").state
        print(" ".join(hashlib.sha256(b).hexdigest() for b in leaf_bytes(got)))
    """)
    env = {**os.environ, "JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    expected = [hashlib.sha256(b).hexdigest() for b in leaf_bytes(state)]
    assert out.stdout.split() == expected


def test_retention_keeps_exactly_the_last_n(tmp_path):
    state = make_state()
    for step in (8, 16, 24, 32, 40):
        save(tmp_path, state, step, keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step_00000032", "step_00000040"]


def test_partial_checkpoint_is_ignored_and_removed_by_the_next_save(tmp_path):
    good = make_state(seed=1)
    save(tmp_path, good, 8)
    partial = tmp_path / "checkpoints" / ".tmp-step_00000016-999"  # a save killed half-way
    partial.mkdir()
    (partial / "state.npz").write_bytes(b"half a zip")
    restored = checkpoint.restore(tmp_path, jax.eval_shape(lambda: good))
    assert restored.step == 8 and leaf_bytes(restored.state) == leaf_bytes(good)
    save(tmp_path, make_state(seed=2), 24)
    assert not partial.exists()
    assert checkpoint.restore(tmp_path, jax.eval_shape(lambda: good)).step == 24


def test_corrupt_file_is_named_and_the_run_dir_is_untouched(tmp_path):
    state = make_state()
    path = save(tmp_path, state, 8)
    data = bytearray((path / "state.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / "state.npz").write_bytes(bytes(data))
    before = dir_digest(tmp_path)
    with pytest.raises(PlastixError, match=r"state\.npz' is corrupt"):
        checkpoint.restore(tmp_path, jax.eval_shape(lambda: state))
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(PlastixError, match=r"manifest\.json' is corrupt"):
        checkpoint.restore(tmp_path, jax.eval_shape(lambda: state))
    before["checkpoints/step_00000008/manifest.json"] = hashlib.sha256(b"{not json").hexdigest()
    assert dir_digest(tmp_path) == before


def test_different_hidden_size_names_leaf_and_shapes_and_touches_nothing(tmp_path):
    save(tmp_path, make_state(hidden=4), 8)
    before = dir_digest(tmp_path)
    bigger = jax.eval_shape(lambda: make_state(hidden=5))
    with pytest.raises(PlastixError, match=r"leaf \['opt'\]\[0\]\.mu\['W'\] has shape \[3, 4, 4\] in the checkpoint, "
                                           r"expected \[3, 5, 5\]"):
        checkpoint.restore(tmp_path, bigger)
    other = jax.eval_shape(lambda: {**make_state(), "extra": jnp.zeros(2)})
    with pytest.raises(PlastixError, match="does not fit this trainer"):
        checkpoint.restore(tmp_path, other)
    with pytest.raises(PlastixError, match="different resolved config"):
        checkpoint.restore(tmp_path, jax.eval_shape(lambda: make_state(hidden=4)), "another-hash")
    assert dir_digest(tmp_path) == before


def test_no_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(PlastixError, match="no finished checkpoint"):
        checkpoint.restore(tmp_path, {})


def test_manifest_records_sha256_of_each_file(tmp_path):
    path = save(tmp_path, make_state(), 8)
    manifest = json.loads((path / "manifest.json").read_text())
    for name in ("state.npz", "metrics.npz"):
        assert manifest["sha256"][name] == hashlib.sha256((path / name).read_bytes()).hexdigest()


# ---------------------------------------------------------------- non-finite guards
def test_nan_gradient_is_skipped_counted_and_next_step_is_plain_adam():
    lr = 0.01
    opt = make_optimizer("adam", lr, None, None, 1)
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    state = opt.init(params)
    bad = {"w": jnp.array([0.5, jnp.nan, 1.0])}
    upd, state = opt.update(bad, state, params)
    after_bad = optax.apply_updates(params, upd)
    np.testing.assert_array_equal(after_bad["w"], params["w"])  # skipped: parameters kept
    assert int(state.total_notfinite) == 1 and int(state.notfinite_count) == 1
    g = np.array([0.5, -0.25, 2.0])
    upd, state = opt.update({"w": jnp.asarray(g)}, state, after_bad)
    new = optax.apply_updates(after_bad, upd)
    # first Adam step (Kingma & Ba 2015) from zero moments: m̂ = g, v̂ = g², θ -= lr m̂ / (√v̂ + ε)
    expected = np.array([1.0, -2.0, 3.0]) - lr * g / (np.abs(g) + 1e-8)
    np.testing.assert_allclose(np.asarray(new["w"]), expected, rtol=1e-6)
    assert int(state.total_notfinite) == 1 and int(state.notfinite_count) == 0


def test_too_many_skipped_updates_name_step_and_last_finite_metrics():
    m = {"step": np.array([[10, 20, 30], [10, 20, 30]]),
         "losses/skipped_updates": np.array([[0, 0, 0], [0, 2, 5]]),
         "losses/train_loss": np.array([[1.0, 0.9, 0.8], [1.5, np.nan, np.nan]])}
    check_skipped(m, [4, 5], 5, 0, ["losses/train_loss"])  # 5 is not more than 5
    with pytest.raises(PlastixError, match=r"seed 5: 5 updates were skipped .* by step 30 \(previous log at step 20\), "
                                           r"more than --max-skipped 4\. last finite metrics at step 10: "
                                           r"losses/train_loss=1\.5"):
        check_skipped(m, [4, 5], 4, 0, ["losses/train_loss"])
    check_skipped(m, [4, 5], 1, 3, ["losses/train_loss"])  # only log points from index 3 on are new


def run_with_checkpoints(trainer, seeds, run_dir, algo="supervised", resume=False, max_skipped=100):
    """The driver's segmented training on a hand-made run directory: a checkpoint after every log point."""
    from plastix.algorithms import get_algorithm
    from plastix.driver import RunOptions, train_segments
    from plastix.runs import RunControl

    control = RunControl(Path(run_dir), seeds, "same-config", resume=resume, checkpoint_every=1, keep=5,
                         max_skipped=max_skipped)
    return train_segments(trainer, get_algorithm(algo), seeds, control, RunOptions(quiet=True))


def drop_last_checkpoint(run_dir: Path) -> None:
    import shutil

    shutil.rmtree(checkpoint.list_checkpoints(run_dir)[-1])


@pytest.mark.slow
def test_nan_reward_at_step_t_names_it_and_keeps_the_last_good_checkpoint(tmp_path):
    import dataclasses

    from plastix.envs import make_env
    from plastix.envs.bandit import TwoArmedBandit
    from plastix.rl.trainer import RLConfig, make_trainer

    @dataclasses.dataclass(frozen=True)
    class NaNRewardBandit(TwoArmedBandit):
        """The reward of the step taken from time index 3 of every episode is NaN."""

        def step_env(self, key, state, action, params):
            obs, new, reward, term, trunc = super().step_env(key, state, action, params)
            return obs, new, jnp.where(state.t == 3, jnp.nan, reward), term, trunc

    config = RLConfig(task="bandit", core="mlp", hidden=4, batch_size=2, num_updates=2, updates_per_log=1)
    env_params = make_env("bandit", episode_length=5)[1]
    clean = make_trainer(config, (TwoArmedBandit(), env_params))
    run_with_checkpoints(clean, [3], tmp_path, algo="a2c")
    drop_last_checkpoint(tmp_path)  # as if killed after the first log point
    before = dir_digest(tmp_path / "checkpoints")
    poisoned = make_trainer(config, (NaNRewardBandit(), env_params))
    with pytest.raises(PlastixError, match=r"non-finite reward \(field 'reward'\) at update 1, step 3 of the "
                                           r"episode, seed 3"):
        run_with_checkpoints(poisoned, [3], tmp_path, algo="a2c", resume=True)
    assert dir_digest(tmp_path / "checkpoints") == before  # the last good checkpoint is intact
    assert "error: non-finite reward" in (tmp_path / "train.log").read_text()


@pytest.mark.slow
def test_max_skipped_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    from plastix.grads.base import GradMethod, bptt
    from plastix.train.supervised import make_trainer, seed_keys

    config = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=5, batch_size=2, num_updates=6,
                              updates_per_log=3, eval_batch_size=4)
    exact = bptt()

    def nan_grads(model, params, batch):
        loss, grads = exact.value_and_grad(model, params, batch)
        return loss, jax.tree.map(lambda g: g * jnp.nan, grads)

    run_with_checkpoints(make_trainer(config), [0], tmp_path)
    drop_last_checkpoint(tmp_path)
    template = jax.eval_shape(jax.vmap(make_trainer(config).init), seed_keys([0]))
    last = float(checkpoint.restore(tmp_path, template).metrics["losses/train_loss"][0, -1])
    before = dir_digest(tmp_path / "checkpoints")
    poisoned = make_trainer(config, GradMethod("nan", nan_grads))
    with pytest.raises(PlastixError, match=r"seed 0: 3 updates were skipped .* by step 12 \(previous log at step 6\), "
                                           r"more than --max-skipped 2\. last finite metrics at step 6: "
                                           rf".*losses/train_loss={last:.6g}[,.].* The last good checkpoint is intact"):
        run_with_checkpoints(poisoned, [0], tmp_path, resume=True, max_skipped=2)
    assert dir_digest(tmp_path / "checkpoints") == before


def truncate_to_first_checkpoint(src: Path, dst: Path, final_files) -> None:
    """A copy of a finished run as if killed right after its first checkpoint."""
    import shutil

    shutil.copytree(src, dst)
    for path in checkpoint.list_checkpoints(dst)[1:]:
        shutil.rmtree(path)
    for name in final_files:
        (dst / name).unlink()


def csv_without_wall_time(path: Path) -> list[str]:
    return [",".join(c for j, c in enumerate(line.split(",")) if j != 1) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_policy_gradient_cli_run_resumes_bitwise(tmp_path):
    from plastix.cli import main

    flags = ["--core", "mlp", "--hidden", "4", "--episodes", "2", "--env-opt", "episode_length=5", "--total-steps",
             "40", "--log-every", "10", "--seeds", "2", "--checkpoint-every", "2", "--quiet", "--no-plot"]
    assert main(["train", "bandit", "--algo", "reinforce", *flags, "--out", str(tmp_path / "a")]) == 0
    truncate_to_first_checkpoint(tmp_path / "a", tmp_path / "b", ["params.npz", "metrics.csv"])
    assert main(["train", "bandit", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    assert (tmp_path / "b" / "params.npz").read_bytes() == (tmp_path / "a" / "params.npz").read_bytes()
    rows = csv_without_wall_time(tmp_path / "b" / "metrics.csv")
    assert rows == csv_without_wall_time(tmp_path / "a" / "metrics.csv")
    assert [r.split(",")[0] for r in rows[1:]] == ["10", "10", "20", "20", "30", "30", "40", "40"]  # no duplicates


def test_one_serializer_round_trips_typed_keys_and_names_leaves_by_path(tmp_path):
    tree = {"key": jax.random.key(7), "w": jnp.arange(6.0).reshape(2, 3), "n": jnp.asarray(3, jnp.int32)}
    file = checkpoint.save_tree(tmp_path / "t.npz", tree)
    arrays = checkpoint.read_arrays(file)
    assert sorted(arrays) == sorted(["['key']", "['n']", "['w']", checkpoint.KEY_IMPLS])
    back = checkpoint.tree_from_arrays(arrays, jax.eval_shape(lambda: tree), str(file))
    np.testing.assert_array_equal(jax.random.key_data(back["key"]), jax.random.key_data(tree["key"]))
    assert jax.random.uniform(back["key"]) == jax.random.uniform(tree["key"])  # the same typed key
    np.testing.assert_array_equal(back["w"], tree["w"])
    with pytest.raises(PlastixError, match=r"leaf \['w'\] in .* is float(32|64)\[2, 3\], the template expects float(32|64)\[3, 2\]"):
        checkpoint.tree_from_arrays(arrays, {**tree, "w": jnp.zeros((3, 2))}, str(file))
    with pytest.raises(PlastixError, match=r"lacks leaf \['b'\]"):
        checkpoint.tree_from_arrays(arrays, {"b": jnp.zeros(2)}, str(file))
