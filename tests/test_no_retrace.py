"""Hot functions compile once: calling them again with new values of the same shapes and
dtypes must not retrace (a Python side effect counts traces)."""

import jax
import jax.numpy as jnp
import pytest

from plastix.cores import make_core
from plastix.grads import SeqModel, batched_value_and_grad, make_batch, make_grad_method


@pytest.mark.parametrize("method", [pytest.param("bptt", marks=pytest.mark.slow), "hand-bptt", "truncated-bptt",
                                    "rtrl"])
def test_gradient_methods_trace_once(method):
    model = SeqModel(make_core("elman", 2, 3), 1)
    grad = make_grad_method(method, window=4, stride=2) if method == "truncated-bptt" else make_grad_method(method)
    traces = []

    @jax.jit
    def f(params, batch):
        traces.append(1)
        return batched_value_and_grad(grad, model, params, batch)

    for seed in range(3):
        k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
        params = model.init(k1)
        xs = jax.random.normal(k2, (4, 8, 2), jnp.float32)
        loss, _ = f(params, make_batch(xs, jax.random.normal(k3, (4, 8, 1), jnp.float32)))
        assert jnp.isfinite(loss)
    assert len(traces) == 1


@pytest.mark.slow
def test_supervised_segments_trace_once():
    """The jitted training segment is traced once per segment length, not once per call."""
    from plastix.train.supervised import SupervisedConfig, make_trainer

    config = SupervisedConfig(task="adding", core="elman", hidden=4, seq_len=6, batch_size=4,
                              num_updates=6, updates_per_log=1, eval_batch_size=8)
    trainer = make_trainer(config)
    traces = []

    def counted(state, n):
        traces.append(n)
        return trainer.run(state, n)

    run = jax.jit(counted, static_argnums=1)
    state = trainer.init(jax.random.PRNGKey(0))
    for _ in range(3):
        state, metrics = run(state, 2)
    assert traces == [2]
    assert int(state.update) == 6
