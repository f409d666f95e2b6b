"""Language models on any text (``plastix train text:<file>``): tokens, vocabulary and splits
(``text``), contiguous streams for truncated BPTT (``batches``), the model, its loss and sampling
(``model``), the trainer (``trainer``), the ``plastix train`` resolver (``resolve``), scoring and
sampling a saved run (``evaluate``) and the shipped generated corpus (``corpus``)."""

from plastix.lm.batches import EvalStreams, eval_streams, num_segments, segment, stream_matrix
from plastix.lm.config import SHIPPED_CORPUS, LMConfig
from plastix.lm.corpus import Recall, make_corpus
from plastix.lm.model import LanguageModel, LMParams, draw, sample, segment_loss, split_nll, token_nll
from plastix.lm.text import TEXT_PREFIX, TextData, Vocab, build_vocab, load_text, read_text, tokenize
from plastix.lm.trainer import LMSetup, LMState, make_setup, make_trainer

__all__ = ["EvalStreams", "LMConfig", "LMParams", "LMSetup", "LMState", "LanguageModel", "Recall", "SHIPPED_CORPUS",
           "TEXT_PREFIX", "TextData", "Vocab", "build_vocab", "draw", "eval_streams", "load_text", "make_corpus",
           "make_setup", "make_trainer", "num_segments", "read_text", "sample", "segment", "segment_loss",
           "split_nll", "stream_matrix", "token_nll", "tokenize"]
