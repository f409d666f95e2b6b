"""Bring your own data (docs/your-own-parts.md): a supervised task from (xs, ys, mask) arrays,
.npz and .csv files, ``get_task("data:...")`` and ``make_trainer(config, data=...)``."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.errors import PlastixError
from plastix.tasks import as_data_task, get_task, load_data, make_sequence_data
from plastix.tasks.data import load_npz, split_indices
from plastix.train.supervised import SupervisedConfig, make_trainer


def arrays(n=10, T=5, d=2, k=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, T, d)), rng.normal(size=(n, T, k))


def with_value(a, index, value):
    a = a.copy()
    a[index] = value
    return a


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("change, message", [
    (lambda xs, ys, m: (xs[:, :, 0], ys, m), r"xs must have shape \(N sequences, T steps, d inputs\), got shape \(10, 5\)"),
    (lambda xs, ys, m: (xs, ys[:, :4], m), r"ys must match xs in \(N, T\) = \(10, 5\), got ys of shape \(10, 4, 1\)"),
    (lambda xs, ys, m: (xs.astype(str), ys, m), r"xs must have a real numeric dtype, got dtype <U"),
    (lambda xs, ys, m: (xs, ys.astype(complex), m), r"ys must have a real numeric dtype, got dtype complex128"),
    (lambda xs, ys, m: (xs, with_value(ys, (2, 3, 0), np.nan), m), r"ys has a non-finite value \(nan\) at index \(2, 3, 0\)"),
    (lambda xs, ys, m: (with_value(xs, (4, 0, 1), np.inf), ys, m), r"xs has a non-finite value \(inf\) at index \(4, 0, 1\)"),
    (lambda xs, ys, m: (xs[:0], ys[:0], m), r"xs is empty \(shape \(0, 5, 2\)\)"),
    (lambda xs, ys, m: (xs, ys, np.where(np.arange(5) == 3, 0.5, 1.0)[None].repeat(10, 0)),
     r"mask must hold only 0 and 1, got 0.5 at index \(0, 3\)"),
    (lambda xs, ys, m: (xs, ys, np.ones((10, 4))), r"mask must have shape \(N, T\) = \(10, 5\), got \(10, 4\)"),
    (lambda xs, ys, m: (xs, ys, np.ones((10, 5)) * (np.arange(10) != 7)[:, None]),
     r"sequence 7 has no step with mask 1"),
    (lambda xs, ys, m: (xs, -np.ones((10, 5), int), m), r"class labels, which must be >= 0; got -1 at index \(0, 0\)"),
])
def test_bad_arrays_are_named_with_the_first_bad_index(change, message):
    xs, ys = arrays()
    with pytest.raises(PlastixError, match=message):
        make_sequence_data(*change(xs, ys, None))


def test_nan_is_reported_at_its_first_index():
    xs, ys = arrays()
    ys[2, 3, 0] = ys[6, 1, 0] = np.nan
    with pytest.raises(PlastixError, match=r"ys has a non-finite value \(nan\) at index \(2, 3, 0\)"):
        make_sequence_data(xs, ys)


def test_loss_follows_the_target_dtype_and_classes_are_counted():
    xs, ys = arrays()
    assert as_data_task((xs, ys)).loss == "mse" and as_data_task((xs, ys[..., 0])).output_size == 1
    labels = np.zeros((10, 5), np.int64)
    labels[3, 2] = 4  # largest label 4 -> 5 classes
    task = as_data_task((xs, labels))
    assert (task.loss, task.output_size, task.metric, task.higher_is_better) == ("xent", 5, "accuracy", True)
    with pytest.raises(PlastixError, match=r"num_classes must be an integer above every label; got 3 .* label 4 "
                                           r"at index \(3, 2\)"):
        make_sequence_data(xs, labels, num_classes=3)


# ---------------------------------------------------------------- split, batches, baseline
def test_batches_come_from_the_training_part_and_evaluation_from_the_held_out_part():
    n, T = 20, 3
    xs = np.broadcast_to(np.arange(n, dtype=float)[:, None, None], (n, T, 1)).copy()  # xs tells the sequence
    mask = np.ones((n, T))
    mask[:, 0] = 0
    task = as_data_task((xs, xs, mask))
    train, held = split_indices(n, 0.2, 0)
    assert len(held) == 4 and sorted([*train, *held]) == list(range(n))
    np.testing.assert_array_equal(held, split_indices(n, 0.2, 0)[1])  # seeded: the same every time
    batch = task.sample(jax.random.PRNGKey(0), 200, T, jnp.float64)
    seen = set(np.asarray(batch.xs[:, 0, 0]).astype(int))
    assert seen == set(train.tolist())  # 200 draws cover all 16 training sequences, none held out
    evaluation = task.sample_eval(jax.random.PRNGKey(1), 50, T, jnp.float64)
    assert set(np.asarray(evaluation.xs[:, 0, 0]).astype(int)) == set(held.tolist())
    # w_t = mask_t / Σ mask: (0, ½, ½) per sequence
    np.testing.assert_array_equal(np.asarray(batch.weights), np.tile([0.0, 0.5, 0.5], (200, 1)))
    with pytest.raises(PlastixError, match=r"has sequences of 3 steps: seq_len must be 3, got 4"):
        task.check_T(4)


def test_baselines_are_those_of_a_constant_predictor():
    n = 10
    xs = np.zeros((n, 2, 1))
    ys = np.arange(2 * n, dtype=float).reshape(n, 2, 1)
    task = as_data_task((xs, ys))
    train, held = split_indices(n, 0.2, 0)
    mean = ys[train].mean()
    np.testing.assert_allclose(task.baseline(2), np.mean((ys[held] - mean) ** 2), rtol=1e-12)
    labels = np.zeros((n, 2), int)
    labels[train[:3]] = 2  # class 2 in 3 training sequences, class 0 in the rest: the majority is 0
    labels[held[0]] = 2
    task = as_data_task((xs, labels))
    np.testing.assert_allclose(task.baseline(2), np.mean(labels[held][:, 0] == 0))


# ---------------------------------------------------------------- files
def test_npz_and_get_task_data_prefix(tmp_path):
    xs, ys = arrays()
    mask = np.ones((10, 5))
    mask[:, :2] = 0
    np.savez(tmp_path / "d.npz", xs=xs, ys=ys, mask=mask)
    task = get_task(f"data:{tmp_path / 'd.npz'}")
    assert (task.name, task.input_size, task.default_T) == (f"data:{tmp_path / 'd.npz'}", 2, 5)
    data = load_data(tmp_path / "d.npz")
    np.testing.assert_array_equal(data.xs, xs)
    np.testing.assert_array_equal(data.mask, mask)
    np.savez(tmp_path / "bad.npz", xs=xs, targets=ys)
    with pytest.raises(PlastixError, match=r"must hold arrays xs, ys and optionally mask; it holds \['targets', 'xs'\]"):
        get_task(f"data:{tmp_path / 'bad.npz'}")
    with pytest.raises(PlastixError, match=r"no such file"):
        get_task("data:nowhere.npz")


def test_csv_rows_in_any_order_with_different_lengths(tmp_path):
    rows = ["seq,t,x0,x1,y0", "b,1,5,6,0.5", "a,0,1,2,0.1", "b,0,3,4,0.3", "a,2,9,9,0.9", "a,1,7,8,0.7",
            "c,0,0,1,1.0"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = load_data(tmp_path / "d.csv")
    # sequences in order of first row: b (2 steps), a (3 steps), c (1 step); padded to T = 3
    np.testing.assert_array_equal(data.xs, [[[3, 4], [5, 6], [0, 0]], [[1, 2], [7, 8], [9, 9]],
                                            [[0, 1], [0, 0], [0, 0]]])
    np.testing.assert_array_equal(data.targets[..., 0], [[0.3, 0.5, 0], [0.1, 0.7, 0.9], [1.0, 0, 0]])
    np.testing.assert_array_equal(data.mask, [[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    (tmp_path / "l.csv").write_text("seq,t,x0,label,mask\n0,0,1.5,2,0\n0,1,2.5,1,1\n1,0,0,0,1\n1,1,0,3,1\n")
    labels = load_data(tmp_path / "l.csv")
    assert labels.num_classes == 4 and labels.targets.tolist() == [[2, 1], [0, 3]]
    (tmp_path / "gap.csv").write_text("seq,t,x0,y0\n0,0,1,1\n0,2,1,1\n")
    with pytest.raises(PlastixError, match=r"sequence '0' must have steps t = 0..1 without gaps, got t = \[0, 2\]"):
        load_data(tmp_path / "gap.csv")
    (tmp_path / "text.csv").write_text("seq,t,x0,y0\n0,0,1,one\n")
    with pytest.raises(PlastixError, match=r"row 2, column 'y0': expected a number, got 'one'"):
        load_data(tmp_path / "text.csv")


# ---------------------------------------------------------------- training on data made here
def delayed_sum(n, T, seed):
    """Regression: y_t = x_{t-1} + x_{t-2} (a two-step memory); targets from t = 2 on (mask)."""
    xs = np.random.default_rng(seed).uniform(-1, 1, size=(n, T, 1))
    ys = np.zeros((n, T, 1))
    ys[:, 2:] = xs[:, 1:-1] + xs[:, :-2]
    mask = np.ones((n, T))
    mask[:, :2] = 0
    return xs, ys, mask


def sign_of_sum(n, T, seed):
    """Classification at the last step: label = [Σ_t x_t > 0] (only the last step is masked in)."""
    xs = np.random.default_rng(seed).normal(size=(n, T, 1))
    labels = np.zeros((n, T), np.int64)
    labels[:, -1] = xs[:, :, 0].sum(axis=1) > 0
    mask = np.zeros((n, T))
    mask[:, -1] = 1
    return xs, labels, mask


@pytest.mark.learning
def test_lstm_learns_regression_and_classification_from_arrays():
    config = SupervisedConfig(core="lstm", hidden=16, seq_len=8, batch_size=32, num_updates=300, updates_per_log=100,
                              eval_batch_size=128, lr=1e-2)
    _, reg = jax.jit(make_trainer(config, data=delayed_sum(400, 8, 0)).train)(jax.random.PRNGKey(0))
    _, cls = jax.jit(make_trainer(config, data=sign_of_sum(400, 8, 1)).train)(jax.random.PRNGKey(0))
    mse, acc = np.asarray(reg["charts/eval_metric"]), np.asarray(cls["charts/eval_metric"])
    # measured (held-out metric after 100/200/300 updates, seed 0): MSE 0.0153, 0.0019, 0.00068
    # (seed 1: 0.0206, 0.0034, 0.0012; the constant-mean baseline is 0.61); accuracy 0.98, 0.95, 0.92
    # (seed 1: 0.96, 0.98, 0.92; 128 draws from 80 held-out sequences; the majority baseline is 0.525)
    assert mse[-1] < 0.01 < reg["charts/baseline"][-1] and mse[-1] < mse[0]
    assert acc[-1] > 0.85 > cls["charts/baseline"][-1]


def test_data_task_needs_its_own_seq_len_and_rejects_env():
    config = SupervisedConfig(core="lstm", hidden=4, seq_len=100, batch_size=2, num_updates=2, updates_per_log=1,
                              eval_batch_size=2)
    with pytest.raises(PlastixError, match=r"has sequences of 8 steps: seq_len must be 8, got 100"):
        make_trainer(config, data=delayed_sum(10, 8, 0))
    with pytest.raises(PlastixError, match=r"not from an environment"):
        make_trainer(config, env=object())


@pytest.mark.slow
def test_plastix_run_on_a_data_file_resumes_bitwise(tmp_path):
    import plastix
    from plastix import checkpoint

    np.savez(tmp_path / "d.npz", **dict(zip(("xs", "ys", "mask"), delayed_sum(40, 6, 0), strict=True)))
    config = SupervisedConfig(task=f"data:{tmp_path / 'd.npz'}", core="gru", hidden=4, seq_len=6, batch_size=4,
                              num_updates=6, updates_per_log=2, eval_batch_size=8)
    opts = dict(checkpoint_every=1, progress=False, no_plot=True)
    plastix.run(config, out=str(tmp_path / "a"), **opts)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    for path in checkpoint.list_checkpoints(tmp_path / "b")[1:]:
        shutil.rmtree(path)
    for name in ("params.npz", "metrics.csv"):
        (tmp_path / "b" / name).unlink()
    plastix.run(config, resume=str(tmp_path / "b"), progress=False, no_plot=True)
    assert "resumed from checkpoint" in (tmp_path / "b" / "train.log").read_text()  # continued, not restarted
    assert (tmp_path / "b" / "params.npz").read_bytes() == (tmp_path / "a" / "params.npz").read_bytes()


@pytest.mark.parametrize("content", [b"not a zip", None])
def test_unreadable_npz_is_refused_naming_the_file(tmp_path, content):
    """A file that is not an npz, and an npz holding object arrays (pickles), are refused with a
    PlastixError naming the file, not a NumPy traceback."""
    path = tmp_path / "bad.npz"
    if content is None:
        np.savez(path, xs=np.array([object()], dtype=object), ys=np.zeros((1, 2, 1)))
    else:
        path.write_bytes(content)
    with pytest.raises(PlastixError, match=r"bad\.npz is not a readable \.npz"):
        load_npz(path)
