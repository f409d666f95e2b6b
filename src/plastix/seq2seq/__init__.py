"""Encoder–decoders over token embeddings with any plastix core as encoder and decoder: no
attention (Sutskever, Vinyals & Le 2014), Bahdanau (Bahdanau, Cho & Bengio 2015) or Luong
(Luong, Pham & Manning 2015) attention, teacher forcing and scheduled sampling (Bengio et al.
2015), greedy and beam search decoding with GNMT's length penalty (Wu et al. 2016), and the tasks
reversal, sorting and addition scored by exact match. Documentation: docs/sequences.md."""

from plastix.seq2seq.beam import BeamResult, beam_decode, beam_search, length_penalty
from plastix.seq2seq.model import (ATTENTIONS, BahdanauParams, DecoderState, Encoded, LuongParams, Seq2Seq,
                                   Seq2SeqParams, greedy_decode, make_seq2seq, masked_softmax)
from plastix.seq2seq.tasks import (BOS, EOS, PAD, SEQ2SEQ_TASKS, VOCAB, Seq2SeqBatch, render, sample_batch,
                                   sample_problem)
from plastix.seq2seq.train import (Seq2SeqConfig, Seq2SeqState, Setup, decode_batch, evaluate, exact_match,
                                   make_setup, make_trainer, problem_loss, sampling_probability)

__all__ = [
    "ATTENTIONS",
    "BOS",
    "EOS",
    "PAD",
    "SEQ2SEQ_TASKS",
    "VOCAB",
    "BahdanauParams",
    "BeamResult",
    "DecoderState",
    "Encoded",
    "LuongParams",
    "Seq2Seq",
    "Seq2SeqBatch",
    "Seq2SeqConfig",
    "Seq2SeqParams",
    "Seq2SeqState",
    "Setup",
    "beam_decode",
    "beam_search",
    "decode_batch",
    "evaluate",
    "exact_match",
    "greedy_decode",
    "length_penalty",
    "make_seq2seq",
    "make_setup",
    "make_trainer",
    "masked_softmax",
    "problem_loss",
    "render",
    "sample_batch",
    "sample_problem",
    "sampling_probability",
]
