"""The encoder-decoder learns: reversal of 1..3 digits to a high exact match on held-out problems
within a few hundred updates (a small LSTM with Luong attention)."""

import jax
import numpy as np
import pytest

from plastix.seq2seq.train import Seq2SeqConfig, make_trainer
from plastix.train.harness import seed_keys


@pytest.mark.learning
def test_reversal_is_learned_to_a_high_exact_match():
    cfg = Seq2SeqConfig(task="reversal", core="lstm", attention="luong", hidden=32, embed=16, min_len=1, max_len=3,
                        batch_size=32, lr=1e-2, lr_end=1e-3, num_updates=600, updates_per_log=300,
                        eval_batch_size=500)
    _, metrics = jax.jit(jax.vmap(make_trainer(cfg).train))(seed_keys([0]))
    exact = np.asarray(metrics["charts/eval_metric"])[0]
    # chance: 1/10^n for n digits; a model that reverses reaches ~1
    assert exact[-1] >= 0.95, exact
    assert exact[-1] > exact[0] or exact[0] >= 0.95
