"""Test-wide JAX settings: float64 available everywhere (cores take explicit dtypes), and
implicit rank promotion raises, as in equinox's test suite, to catch broadcasting bugs."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
