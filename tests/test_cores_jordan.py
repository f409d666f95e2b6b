"""Jordan network: output feedback, teacher forcing and scheduled sampling as pure inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastix.cores import make_core, scan_core, teacher_inputs
from plastix.errors import PlastixError
from plastix.grads.base import SeqModel, make_batch

D, N, OUT, T = 2, 3, 2, 7


def setup(seed=0):
    free = make_core("jordan", D, N, dtype="float64", output_size=OUT)
    forced = make_core("jordan", D, N, dtype="float64", output_size=OUT, teacher_forcing=True)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    params = free.init(k1)
    params = params._replace(b=jax.random.normal(k3, (N,), jnp.float64), c=jnp.array([0.3, -0.2]))
    xs = jax.random.normal(k2, (T, D), jnp.float64)
    targets = jax.random.normal(k3, (T, OUT), jnp.float64)
    return free, forced, params, xs, targets


def numpy_jordan(params, xs, fed_back):
    """y_t = V tanh(U x_t + W_y fb_t + b) + c, with fb_t = fed_back(t, y_{t-1})."""
    p = {k: np.asarray(v) for k, v in params._asdict().items()}
    y, ys = np.zeros(OUT), []
    for t, x in enumerate(np.asarray(xs)):
        y = p["V"] @ np.tanh(p["U"] @ x + p["W_y"] @ fed_back(t, y) + p["b"]) + p["c"]
        ys.append(y)
    return np.stack(ys)


def test_teacher_forcing_feeds_exactly_the_previous_target():
    free, forced, params, xs, targets = setup()
    aug = forced.teacher_inputs(xs, targets, jax.random.key(9), 1.0)
    assert aug.shape == (T, forced.step_input_size) == (T, D + OUT + 1)
    _, ys = scan_core(forced, params, aug)
    tg = np.asarray(targets)
    ref = numpy_jordan(params, xs, lambda t, y: tg[t - 1] if t > 0 else np.zeros(OUT))
    np.testing.assert_allclose(ys, ref, rtol=0, atol=1e-13)
    # and it is not the free-running output (so the check above can fail)
    assert not np.allclose(ys, scan_core(free, params, xs)[1], atol=1e-3)


def test_p_zero_is_free_running():
    free, forced, params, xs, targets = setup(1)
    aug = forced.teacher_inputs(xs, targets, jax.random.key(9), 0.0)
    np.testing.assert_array_equal(aug[:, -1], 0.0)
    np.testing.assert_allclose(scan_core(forced, params, aug)[1], scan_core(free, params, xs)[1], rtol=0, atol=1e-14)
    ref = numpy_jordan(params, xs, lambda t, y: y)
    np.testing.assert_allclose(scan_core(free, params, xs)[1], ref, rtol=0, atol=1e-13)


def test_scheduled_sampling_mixes_per_step():
    """p = 0.5: at each step the fed-back vector is the target where m_t = 1, else y_{t-1}."""
    free, forced, params, xs, targets = setup(2)
    aug = forced.teacher_inputs(xs, targets, jax.random.key(4), 0.5)
    m, tg = np.asarray(aug[:, -1]), np.asarray(targets)
    assert 0 < m.sum() < T - 1  # a real mixture at this seed
    ref = numpy_jordan(params, xs, lambda t, y: tg[t - 1] if m[t] else y)
    np.testing.assert_allclose(scan_core(forced, params, aug)[1], ref, rtol=0, atol=1e-13)


def test_mask_statistics_and_episode_starts():
    steps, p = 4000, 0.3
    xs, targets = jnp.ones((steps, 1)), jnp.arange(steps, dtype=jnp.float64)[:, None] + 1.0
    resets = (jnp.arange(steps) % 100) == 0
    schedule = jax.jit(teacher_inputs)  # p may be traced (a sampling schedule)
    aug = schedule(xs, targets, jax.random.key(0), p, resets)
    mask, y_prev = np.asarray(aug[:, 2]), np.asarray(aug[:, 1])
    starts = np.asarray(resets)
    # Bernoulli(p) off the episode starts: binomial sd sqrt(p(1-p)/3960) ≈ 0.0073.
    assert abs(mask[~starts].mean() - p) < 0.03
    assert set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(mask[starts], 0.0)
    np.testing.assert_array_equal(y_prev[starts], 0.0)
    np.testing.assert_array_equal(y_prev[~starts], np.asarray(targets)[:-1, 0][~starts[1:]])
    again = teacher_inputs(xs, targets, jax.random.key(0), 0.3, resets)
    np.testing.assert_array_equal(aug, again)


@pytest.mark.slow
def test_seq_model_without_readout_trains_through_teacher_inputs():
    """SeqModel(core, out, readout=False): gradient of the teacher-forced loss = central FD."""
    _, forced, params, xs, targets = setup(3)
    model = SeqModel(forced, OUT, readout=False)
    aug = forced.teacher_inputs(xs, targets, jax.random.key(1), 0.7)
    batch = make_batch(aug, targets)
    mp = model.init(jax.random.key(0))._replace(core=params)
    grads = jax.grad(model.sequence_loss)(mp, batch)
    eps, dV = 1e-6, jnp.zeros_like(params.V).at[1, 2].set(1.0)
    shift = [model.sequence_loss(mp._replace(core=params._replace(V=params.V + s * eps * dV)), batch) for s in (1, -1)]
    np.testing.assert_allclose(grads.core.V[1, 2], (shift[0] - shift[1]) / (2 * eps), rtol=1e-7)
    np.testing.assert_allclose(model.apply(mp, aug), scan_core(forced, params, aug)[1], rtol=0, atol=0)


def test_errors():
    free, forced, params, xs, targets = setup()
    with pytest.raises(PlastixError, match="teacher_inputs"):
        forced.check_input(xs)  # raw inputs given to a teacher-forced core
    forced.check_input(forced.teacher_inputs(xs, targets, jax.random.key(0), 1.0))
    with pytest.raises(PlastixError, match=r"\(T, 2\), got \(7, 1\)"):
        forced.teacher_inputs(xs, targets[:, :1], jax.random.key(0), 1.0)
    with pytest.raises(PlastixError, match="p_teacher"):
        teacher_inputs(xs, targets, jax.random.key(0), 1.5)
    with pytest.raises(PlastixError, match="output_size"):
        make_core("jordan", D, N, output_size=0)
    with pytest.raises(PlastixError, match="output size"):
        SeqModel(free, OUT + 1, readout=False)
