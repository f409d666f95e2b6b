"""Temporal classification with unaligned labels: connectionist temporal classification (CTC;
Graves, Fernández, Gomez & Schmidhuber 2006) for any plastix core, bidirectional or not.

- ``loss``: ``ctc_loss`` = −ln p(z | x) (optax's forward recursion, blank 0), feasibility checks
- ``decode``: best-path decoding and prefix beam search (Graves 2012; Hannun et al. 2014)
- ``ler``: edit distance and the label error rate (eq. 1 of Graves et al. 2006)
- ``task``: ``ctc-symbols``, noisy variable-duration symbol segments with unaligned targets
- ``bidirectional``: a ``plastix.cores.Bidirectional`` over padded sequences (per-sequence reversal)
- ``config``, ``trainer``: ``CTCConfig`` and its ``Trainer`` (``plastix train ctc-symbols``)

Guide: docs/sequences.md, "Temporal classification (CTC)".
"""

from plastix.ctc.bidirectional import reverse_within, run_bidirectional, run_core
from plastix.ctc.config import CTCConfig, resolve_ctc_config
from plastix.ctc.decode import beam_decode_batch, collapse, greedy_decode, greedy_decode_batch, prefix_beam_search
from plastix.ctc.ler import edit_distance, edit_distance_padded, label_error_rate, label_error_rate_padded
from plastix.ctc.loss import BLANK, check_ctc_inputs, ctc_loss, feasible, required_frames
from plastix.ctc.task import CTC_TASKS, CTCBatch, SymbolTask, sample_batch

__all__ = ["BLANK", "CTCBatch", "CTCConfig", "CTC_TASKS", "SymbolTask", "beam_decode_batch", "check_ctc_inputs",
           "collapse", "ctc_loss", "edit_distance", "edit_distance_padded", "feasible", "greedy_decode",
           "greedy_decode_batch", "label_error_rate", "label_error_rate_padded", "prefix_beam_search",
           "required_frames", "resolve_ctc_config", "reverse_within", "run_bidirectional", "run_core", "sample_batch"]
