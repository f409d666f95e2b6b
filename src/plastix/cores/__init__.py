"""Recurrent and plastic cores. ``make_core(name, input_size, hidden_size, **options)``.

Options per core (keyword arguments of ``make_core``; every core also takes ``dtype``):

- ``elman``: activation (tanh | sigmoid | relu)
- ``jordan``: output_size, activation, teacher_forcing (inputs from ``teacher_inputs``)
- ``lstm``: forget_bias (default 1.0);  ``peephole-lstm``, ``gru``: none
- ``multiplicative``: f, g (tanh | sigmoid | relu | linear)
- ``tdnn``: window (per layer, e.g. "3,5"), layers, stride (sub-sampling between layers), activation
- ``transformer``: heads, layers, context (past steps attended), ffn, head_size, positions
  (sinusoidal | learned), max_positions, activation (gelu | relu)
- ``plastic-rnn``, ``plastic-lstm``: alpha (connection | neuron | single), rule (clip | decay |
  oja), eta_init, alpha_init (plastic-lstm also forget_bias)
- ``neuromod-rnn``, ``neuromod-lstm``: the same plus modulation (simple | retroactive), squash
  (tanh | sigmoid | linear); rule must be clip

Multi-layer cores come from ``make_stack`` / ``Stacked``; ``Bidirectional`` is a whole-sequence
wrapper (not online).
"""

from __future__ import annotations

import dataclasses
import importlib

from plastix.cores.base import Core, Readout, init_readout, loop_core, reset_where, scan_core
from plastix.cores.adapter import EquinoxCell, LinenCell, NNXCell, ProtocolCore, as_core, is_core_like
from plastix.cores.elman import Elman
from plastix.cores.gru import GRU
from plastix.cores.jordan import Jordan, teacher_inputs
from plastix.cores.lstm import LSTM
from plastix.cores.lstm_peephole import PeepholeLSTM
from plastix.cores.mlp import FeedForward
from plastix.cores.multiplicative import Multiplicative
from plastix.cores.plastic import NeuromodRNN, PlasticRNN
from plastix.cores.plastic_lstm import NeuromodLSTM, PlasticLSTM
from plastix.cores.stack import Bidirectional, Stacked, make_stack
from plastix.cores.tdnn import TDNN
from plastix.cores.transformer import TransformerCore
from plastix.errors import PlastixError, unknown_name

# name -> (module, class), resolved by ``core_class``.
CORES: dict[str, tuple[str, str]] = {
    "elman": ("plastix.cores.elman", "Elman"),
    "jordan": ("plastix.cores.jordan", "Jordan"),
    "lstm": ("plastix.cores.lstm", "LSTM"),
    "peephole-lstm": ("plastix.cores.lstm_peephole", "PeepholeLSTM"),
    "gru": ("plastix.cores.gru", "GRU"),
    "multiplicative": ("plastix.cores.multiplicative", "Multiplicative"),
    "tdnn": ("plastix.cores.tdnn", "TDNN"),
    "transformer": ("plastix.cores.transformer", "TransformerCore"),
    "esn": ("plastix.cores.esn", "ESN"),
    "plastic-rnn": ("plastix.cores.plastic", "PlasticRNN"),
    "neuromod-rnn": ("plastix.cores.plastic", "NeuromodRNN"),
    "plastic-lstm": ("plastix.cores.plastic_lstm", "PlasticLSTM"),
    "neuromod-lstm": ("plastix.cores.plastic_lstm", "NeuromodLSTM"),
}


def core_class(name: str) -> type[Core]:
    """The class registered under ``name`` (raises with a suggestion if unknown)."""
    if name not in CORES:
        raise unknown_name("core", name, CORES)
    module, cls = CORES[name]
    return getattr(importlib.import_module(module), cls)


def make_core(name, input_size: int, hidden_size: int, **options) -> Core:
    """Build the core called ``name`` (see ``CORES``) with its options.

    ``name`` may also be a core object (anything with init / initial_carry / step, see
    ``plastix.cores.adapter``): it is checked against ``input_size`` and returned as a ``Core``;
    it fixes its own size, so ``hidden_size`` is not used, and it takes no options.

    Raises PlastixError for an unknown name, an unknown option or an invalid value.
    """
    # --- bring-your-own core (plastix.cores.adapter) ---
    if not isinstance(name, str):
        if options:
            raise PlastixError(f"a core object takes no options, got {sorted(options)}.")
        return as_core(name, input_size)
    # --- end bring-your-own core ---
    cls = core_class(name)
    valid = {f.name for f in dataclasses.fields(cls)} - {"input_size", "hidden_size"}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise PlastixError(f"core {name!r} has no option {unknown[0]!r}; its options are: {', '.join(sorted(valid))}.")
    return cls(input_size=input_size, hidden_size=hidden_size, **options)


__all__ = [
    "CORES",
    "GRU",
    "EquinoxCell",
    "LinenCell",
    "NNXCell",
    "ProtocolCore",
    "as_core",
    "is_core_like",
    "LSTM",
    "Bidirectional",
    "Core",
    "Elman",
    "FeedForward",
    "Jordan",
    "Multiplicative",
    "NeuromodLSTM",
    "NeuromodRNN",
    "PeepholeLSTM",
    "PlasticLSTM",
    "PlasticRNN",
    "Readout",
    "Stacked",
    "TDNN",
    "TransformerCore",
    "core_class",
    "init_readout",
    "loop_core",
    "make_core",
    "make_stack",
    "reset_where",
    "scan_core",
    "teacher_inputs",
]
