"""Recurrent and plastic cores. ``make_core(name, input_size, hidden_size, **options)``."""

from __future__ import annotations

import importlib

from plastix.cores.base import Core, Readout, init_readout, loop_core, reset_where, scan_core
from plastix.errors import unknown_name

# name -> (module, class). Imported lazily so ``plastix list`` stays fast.
CORES: dict[str, tuple[str, str]] = {
    "elman": ("plastix.cores.elman", "Elman"),
    "jordan": ("plastix.cores.jordan", "Jordan"),
    "lstm": ("plastix.cores.lstm", "LSTM"),
    "peephole-lstm": ("plastix.cores.lstm_peephole", "PeepholeLSTM"),
    "gru": ("plastix.cores.gru", "GRU"),
    "multiplicative": ("plastix.cores.multiplicative", "Multiplicative"),
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


def make_core(name: str, input_size: int, hidden_size: int, **options) -> Core:
    """Build the core called ``name`` (see ``CORES``) with its options."""
    return core_class(name)(input_size=input_size, hidden_size=hidden_size, **options)


__all__ = [
    "CORES",
    "Core",
    "Readout",
    "core_class",
    "init_readout",
    "loop_core",
    "make_core",
    "reset_where",
    "scan_core",
]
