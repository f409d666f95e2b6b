"""A language model: token input (one-hot or an embedding), any plastix core, a softmax readout.

For one stream, token ids w_0, w_1, ...::

    x_t = onehot(w_t)  or  E[w_t]                      (V,) or (e,)
    carry_t, h_t = core.step(θ, carry_{t-1}, x_t)       any core; plastic traces are in the carry
    p(w_{t+1} | w_≤t) = softmax(W h_t + c)              (V,)
    ℓ_t = −log p(w_{t+1} | w_≤t)                        next-token cross-entropy (nats)

Bits per token are Σ ℓ_t / (n ln 2) (bits per character at the character level) and perplexity
exp(Σ ℓ_t / n) = 2^bits (Mikolov et al. 2010; Zaremba et al. 2014). Sampling draws
w_{t+1} ~ softmax((W h_t + c) / τ), or its argmax for τ = 0.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from plastix.cores.base import Core, Readout, init_readout, scan_core, uniform_init

PyTree = Any


class LMParams(NamedTuple):
    embed: jax.Array | None  # (V, e) input embedding, None for one-hot inputs
    core: PyTree  # the core's parameters
    readout: Readout  # V (V, n), c (V,)


@dataclasses.dataclass(frozen=True)
class LanguageModel:
    """Core + token input + softmax readout over ``vocab_size`` tokens (module docstring);
    ``embed`` 0: one-hot inputs (the core's input size is then ``vocab_size``)."""

    core: Core
    vocab_size: int
    embed: int = 0

    def init(self, key: jax.Array) -> LMParams:
        k_e, k_core, k_out = jax.random.split(key, 3)
        dt = self.core.jdtype
        embed = uniform_init(k_e, (self.vocab_size, self.embed), self.embed, dt) if self.embed else None
        return LMParams(embed, self.core.init(k_core), init_readout(k_out, self.core.output_size, self.vocab_size, dt))

    def initial_carry(self) -> PyTree:
        return self.core.initial_carry()

    def inputs(self, params: LMParams, tokens: jax.Array) -> jax.Array:
        """x_t of token ids (T,) -> (T, V) one-hot or (T, e) embeddings."""
        if params.embed is None:
            return jax.nn.one_hot(tokens, self.vocab_size, dtype=self.core.jdtype)
        return params.embed[tokens]

    def logits(self, params: LMParams, hs: jax.Array) -> jax.Array:
        """W h_t + c of hidden outputs (T, n) -> (T, V)."""
        return hs @ params.readout.V.T + params.readout.c[None, :]

    def run(self, params: LMParams, carry: PyTree, tokens: jax.Array) -> tuple[PyTree, jax.Array]:
        """(final carry, logits (T, V)) of one stream's tokens (T,) from ``carry``."""
        carry, hs = scan_core(self.core, params.core, self.inputs(params, tokens), carry0=carry)
        return carry, self.logits(params, hs)

    def step(self, params: LMParams, carry: PyTree, token: jax.Array) -> tuple[PyTree, jax.Array]:
        """One token: (carry, logits (V,)) after reading ``token`` ()."""
        carry, logits = self.run(params, carry, token[None])
        return carry, logits[0]


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """ℓ_t = −log softmax(logits_t)[target_t]: logits (..., V), targets (...) -> (...)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0]


def segment_loss(model: LanguageModel, params: LMParams, carries: PyTree, inputs: jax.Array,
                 targets: jax.Array) -> tuple[jax.Array, PyTree]:
    """Mean ℓ over B streams × T steps of one segment and the carries it ends with. The carries
    entering the segment (leading axis B) are held constant: truncated BPTT stops there."""
    carries = lax.stop_gradient(carries)
    new, logits = jax.vmap(model.run, in_axes=(None, 0, 0))(params, carries, inputs)
    return jnp.mean(token_nll(logits, targets)), new


def split_nll(model: LanguageModel, params: LMParams, inputs: jax.Array, targets: jax.Array,
              weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(Σ w ℓ, Σ w) over evaluation streams (E, L), each run from a fresh carry."""
    fresh = model.initial_carry()
    _, logits = jax.vmap(model.run, in_axes=(None, None, 0))(params, fresh, inputs)
    nll = token_nll(logits, targets)
    return jnp.sum(weights * nll), jnp.sum(weights)


def draw(key: jax.Array, logits: jax.Array, temperature: float) -> jax.Array:
    """A token from softmax(logits / τ); the argmax for τ = 0 (``temperature`` a Python float)."""
    if temperature == 0:
        return jnp.argmax(logits).astype(jnp.int32)
    return jax.random.categorical(key, logits / temperature).astype(jnp.int32)


def sample(model: LanguageModel, params: LMParams, key: jax.Array, prompt: jax.Array, length: int,
           temperature: float) -> jax.Array:
    """``length`` token ids continuing ``prompt`` (P,) ids, P ≥ 1: the prompt is read from a
    fresh carry, then each drawn token is fed back (``draw``)."""
    carry, logits = model.run(params, model.initial_carry(), prompt)

    def body(state, k):
        carry, last = state
        token = draw(k, last, temperature)
        carry, nxt = model.step(params, carry, token)
        return (carry, nxt), token

    _, tokens = lax.scan(body, (carry, logits[-1]), jax.random.split(key, length))
    return tokens
