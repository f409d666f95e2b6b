"""How plastix's random numbers are compiled on the CPU: the Threefry hash unrolled.

Every ``jax.random`` call (``split``, ``uniform``, ``randint``, ``categorical``...) hashes its
counters with Threefry-2x32 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3",
SC'11): 20 rounds of add-rotate-xor in 5 groups of 4, with a key injection after each group.
On the CPU, JAX compiles those 5 groups as a ``while`` loop of 5 iterations (to keep compile
times short), so every random call inside a jitted loop is itself a small loop: each of its
iterations runs a handful of tiny kernels and copies its loop state, a fixed cost of a few
microseconds that does not depend on how many numbers are drawn. A training step with a dozen
random calls — an RL step splitting keys, drawing ε-greedy actions, resetting environments,
sampling a replay minibatch — pays it a dozen times per step.

``unroll_threefry()`` compiles Threefry as straight-line code instead (the lowering JAX uses on
GPUs: the same rounds, rotations and key injections, unrolled), which XLA fuses with the code
around it. The numbers are the same bits — the hash is the same function; only the loop is
unrolled (``tests/test_xla.py`` checks equality bit for bit, for the raw hash, for every
``jax.random`` function plastix uses and for whole DQN training runs). What changes is speed and
compile time; the measurements are in docs/dqn.md ("Speed").

The switch is process-wide (it replaces the lowering rule of JAX's ``threefry2x32``
primitive for the CPU platform) and acts on programs compiled after it; programs already
compiled keep their rolled loops. It uses a JAX-internal module; if that moves in a future
JAX, ``unroll_threefry`` warns and leaves JAX as it is.
"""

from __future__ import annotations

import warnings

_STATE = {"unrolled": False}


def _rules():
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as tf

    return mlir, tf.threefry2x32_p, tf._threefry2x32_lowering_rule, tf._threefry2x32_cpu_lowering_rule


def unroll_threefry(enable: bool = True) -> bool:
    """Compile Threefry-2x32 unrolled on the CPU (``enable=True``) or as JAX's default rolled
    loop (``False``). Returns whether the unrolled lowering is now in effect (False when this
    JAX does not expose the rules, after a warning)."""
    try:
        mlir, prim, unrolled, rolled = _rules()
    except (ImportError, AttributeError) as err:  # a JAX whose internals moved
        warnings.warn(f"plastix.xla.unroll_threefry: this JAX does not expose the Threefry lowering rules ({err}); "
                      "random numbers stay compiled as JAX's default loop (same results, slower on CPU).",
                      RuntimeWarning, stacklevel=2)
        _STATE["unrolled"] = False
        return False
    mlir.register_lowering(prim, unrolled if enable else rolled, platform="cpu")
    _STATE["unrolled"] = bool(enable)
    return _STATE["unrolled"]


def threefry_unrolled() -> bool:
    """Whether ``unroll_threefry`` is in effect in this process."""
    return _STATE["unrolled"]
