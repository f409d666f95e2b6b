"""Plastic and neuromodulated recurrent networks (Miconi et al. 2018, 2019).

Plastic RNN ("differentiable plasticity")::

    h_t = tanh(W_in x_t + (W + α ⊙ Hebb_t) h_{t-1} + b)
    Hebb_{t+1} = clip(Hebb_t + η h_t h_{t-1}ᵀ, −1, 1)                 rule="clip"
               = (1 − η) Hebb_t + η h_t h_{t-1}ᵀ                      rule="decay" (Miconi 2018)
    ΔHebb_ij   = η h_t,i (h_{t-1},j − h_t,i Hebb_t,ij)                rule="oja"

Neuromodulated RNN ("Backpropamine"): the network computes its own plasticity rate::

    M_t = s(w_M · h_t + b_M),  s ∈ {tanh, sigmoid, linear}
    simple:       Hebb_{t+1} = clip(Hebb_t + M_t h_t h_{t-1}ᵀ, −1, 1)
    retroactive:  Hebb_{t+1} = clip(Hebb_t + M_t E_t, −1, 1)
                  E_{t+1}    = (1 − η) E_t + η h_t h_{t-1}ᵀ

Hebb_ij (row i = post-synaptic h_t, column j = pre-synaptic h_{t-1}) matches W_ij.
Only the recurrent matrix is plastic. α is per connection (n, n), per (post-synaptic)
neuron (n, 1), or single (1, 1). Traces are in the carry and start at zero.

The rate η is a learned scalar θ = ``params.eta``: ``eta_param="raw"`` uses η = θ (Miconi et
al.'s released code; nothing keeps η in [0, 1], and a retroactive E with η > 1 flips sign every
step), ``"sigmoid"`` uses η = sigmoid(θ) ∈ (0, 1), θ initialised to logit(eta_init).

Initialisation (``init_scheme``): ``"plastix"`` draws W_in and W from U(±1/√n) with b = b_M = 0;
``"released"`` follows Backpropamine's released code (sr/modul.py, maze/batch.py): W_in and b
from PyTorch's nn.Linear default U(±1/√d), W = 0.01·U(0, 1), w_M and b_M from U(±1/√n) (the
agent's heads then also get U(±1/√n) biases, ``plastix.rl.agent``). α = alpha_init·U(0, 1) in both.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from plastix.cores.base import Core, uniform_init
from plastix.errors import PlastixError, check_finite_float

ALPHA_SHAPES = ("connection", "neuron", "single")
ETA_PARAMS = ("raw", "sigmoid")  # η = θ (Miconi et al.'s released code) | η = sigmoid(θ) ∈ (0, 1)
INIT_SCHEMES = ("plastix", "released")  # initialisation of PlasticRNN.init (module docstring)
RULES = ("clip", "decay", "oja")
MODULATIONS = ("simple", "retroactive")
SQUASH = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "linear": lambda u: u}


class PlasticParams(NamedTuple):
    W_in: jax.Array  # (n, d)
    W: jax.Array  # (n, n) fixed (slow) recurrent weights
    alpha: jax.Array  # (n, n) | (n, 1) | (1, 1) plasticity coefficients
    eta: jax.Array  # () θ of the plasticity rate η (plastic) or eligibility rate (retroactive), see eta_param
    b: jax.Array  # (n,)
    w_M: jax.Array | None  # (n,) modulator weights (neuromodulated only)
    b_M: jax.Array | None  # () modulator bias (neuromodulated only)


class PlasticCarry(NamedTuple):
    h: jax.Array  # (n,) h_{t-1}
    hebb: jax.Array  # (n, n) Hebb_t
    E: jax.Array | None  # (n, n) eligibility trace E_t (retroactive only)


def alpha_shape(kind: str, n: int) -> tuple[int, int]:
    return {"connection": (n, n), "neuron": (n, 1), "single": (1, 1)}[kind]


@dataclasses.dataclass(frozen=True)
class Plastic:
    """Mixin of the plastic cores (RNN and LSTM): the plasticity options, their validation and
    the initial plasticity parameters. ``alpha`` shape, update ``rule``, ``eta_init``, ``alpha_init``,
    ``eta_param`` (raw | sigmoid: how η is read from its parameter, module docstring)."""

    alpha: str = "connection"
    rule: str = "clip"
    eta_init: float = 0.1
    alpha_init: float = 0.01
    eta_param: str = "raw"
    init_scheme: str = "plastix"

    def modulator_bias(self, key, n: int, dt) -> jax.Array:
        """b_M: 0, or U(±1/√n) (``init_scheme`` released, nn.Linear's bias)."""
        if self.init_scheme == "released":
            return uniform_init(jax.random.fold_in(key, 1), (), n, dt)
        return jnp.zeros((), dt)

    def __post_init__(self):
        super().__post_init__()
        check_option("alpha", self.alpha, ALPHA_SHAPES)
        check_option("rule", self.rule, RULES)
        for name in ("eta_init", "alpha_init"):
            check_finite_float(f"{type(self).__name__}.{name}", getattr(self, name))
        check_option("eta_param", self.eta_param, ETA_PARAMS)
        check_option("init_scheme", self.init_scheme, INIT_SCHEMES)
        if self.init_scheme == "released" and not isinstance(self, PlasticRNN):
            raise PlastixError(f"init_scheme 'released' is for plastic-rnn and neuromod-rnn, got {type(self).__name__}.")
        if self.eta_param == "sigmoid" and not 0.0 < self.eta_init < 1.0:
            raise PlastixError(f"eta_param 'sigmoid' keeps η in (0, 1): eta_init must be in (0, 1), got {self.eta_init!r}.")

    def rate(self, params) -> jax.Array:
        """η from its parameter θ = ``params.eta``: θ (raw) or sigmoid(θ)."""
        return jax.nn.sigmoid(params.eta) if self.eta_param == "sigmoid" else params.eta

    def rate_grad(self, params, d_rate: jax.Array) -> jax.Array:
        """∂L/∂θ from ∂L/∂η: d_rate (raw) or d_rate · η (1 − η) (sigmoid)."""
        if self.eta_param == "sigmoid":
            eta = jax.nn.sigmoid(params.eta)
            return d_rate * eta * (1.0 - eta)
        return d_rate

    def eta_parameter(self, dt) -> jax.Array:
        """The initial θ: eta_init (raw) or logit(eta_init) (sigmoid)."""
        eta = jnp.asarray(self.eta_init, dt)
        return jnp.log(eta) - jnp.log1p(-eta) if self.eta_param == "sigmoid" else eta

    @property
    def modulated(self) -> bool:
        return False

    def init_plasticity(self, k_alpha: jax.Array, k_mod: jax.Array, n: int, dt) -> dict:
        """α ~ alpha_init · U(0, 1) in its shape, η = eta_init (``eta_parameter``), and w_M, b_M if modulated."""
        return dict(
            alpha=self.alpha_init * jax.random.uniform(k_alpha, alpha_shape(self.alpha, n), dt),
            eta=self.eta_parameter(dt),
            w_M=uniform_init(k_mod, (n,), n, dt) if self.modulated else None,
            b_M=self.modulator_bias(k_mod, n, dt) if self.modulated else None,
        )


@dataclasses.dataclass(frozen=True)
class PlasticRNN(Plastic, Core):
    """Plastic RNN (no modulation); options of ``Plastic``."""

    def init(self, key):
        n, d, dt = self.hidden_size, self.input_size, self.jdtype
        k_in, k_w, k_a, k_m = jax.random.split(key, 4)
        if self.init_scheme == "released":  # nn.Linear(d, n) for W_in and b; W = 0.01·U(0, 1)
            return PlasticParams(
                W_in=uniform_init(k_in, (n, d), d, dt),
                W=0.01 * jax.random.uniform(k_w, (n, n), dt),
                b=uniform_init(jax.random.fold_in(k_in, 1), (n,), d, dt),
                **self.init_plasticity(k_a, k_m, n, dt),
            )
        return PlasticParams(
            W_in=uniform_init(k_in, (n, d), n, dt),
            W=uniform_init(k_w, (n, n), n, dt),
            b=jnp.zeros((n,), dt),
            **self.init_plasticity(k_a, k_m, n, dt),
        )

    def initial_carry(self):
        n, dt = self.hidden_size, self.jdtype
        return PlasticCarry(jnp.zeros((n,), dt), jnp.zeros((n, n), dt), None)

    def hidden(self, params, carry, x):
        """h_t = tanh(W_in x_t + (W + α ⊙ Hebb_t) h_{t-1} + b)."""
        W_eff = params.W + params.alpha * carry.hebb
        return jnp.tanh(params.W_in @ x + W_eff @ carry.h + params.b)

    def step(self, params, carry, x):
        h = self.hidden(params, carry, x)
        return PlasticCarry(h, hebbian_update(self.rule, carry.hebb, self.rate(params), h, carry.h), None), h


@dataclasses.dataclass(frozen=True)
class Neuromodulated:
    """Mixin of the neuromodulated cores (RNN and LSTM): the options, the retroactive
    eligibility trace in the carry, the modulator M_t and the modulated trace update."""

    modulation: str = "retroactive"
    squash: str = "tanh"

    def __post_init__(self):
        super().__post_init__()
        check_option("modulation", self.modulation, MODULATIONS)
        check_option("squash", self.squash, tuple(SQUASH))
        if self.rule != "clip":
            raise PlastixError(f"{type(self).__name__} supports rule 'clip' only (the Backpropamine rule), got {self.rule!r}.")

    @property
    def modulated(self) -> bool:
        return True

    def initial_carry(self):
        carry = super().initial_carry()
        if self.modulation == "retroactive":
            carry = carry._replace(E=jnp.zeros_like(carry.hebb))
        return carry

    def modulator(self, params, h):
        """M_t = s(w_M · h_t + b_M), a scalar."""
        return SQUASH[self.squash](params.w_M @ h + params.b_M)

    def modulated_update(self, params, carry, M, post, pre):
        """(Hebb_{t+1}, E_{t+1}) from the carry's Hebb_t and E_t::

            simple:       Hebb_{t+1} = clip(Hebb_t + M_t post preᵀ, −1, 1),   no E
            retroactive:  Hebb_{t+1} = clip(Hebb_t + M_t E_t, −1, 1),
                          E_{t+1} = (1 − η) E_t + η post preᵀ
        """
        if self.modulation == "simple":
            return hebbian_update("clip", carry.hebb, M, post, pre), None
        hebb = jnp.clip(carry.hebb + M * carry.E, -1.0, 1.0)
        eta = self.rate(params)
        return hebb, (1.0 - eta) * carry.E + eta * jnp.outer(post, pre)


@dataclasses.dataclass(frozen=True)
class NeuromodRNN(Neuromodulated, PlasticRNN):
    """Neuromodulated plastic RNN (Backpropamine). ``modulation``: simple | retroactive;
    ``squash``: the modulator's output function s (tanh | sigmoid | linear); ``eta_param``
    defaults to ``"sigmoid"``: the eligibility rate η = sigmoid(θ) stays in (0, 1) (the released
    code's unbounded η = θ, ``"raw"``, left [0, 1] in 3 of 8 seeds and let |E| grow to 628,
    docs/reproduction.md). ``eta_init`` defaults to 0.5 (the released code's 0.1 averages the
    trace over ~10 steps and blurs the one step a reward should credit: with 0.1 at most 3 of 8
    seeds learned the shrunk cue-reward task in 3,000 updates at Adam 1e-3, with 0.5 all 8 within 1,500,
    docs/reproduction.md). Simple modulation does not use η."""

    eta_param: str = "sigmoid"
    eta_init: float = 0.5

    def step(self, params, carry, x):
        h = self.hidden(params, carry, x)
        hebb, E = self.modulated_update(params, carry, self.modulator(params, h), h, carry.h)
        return PlasticCarry(h, hebb, E), h


def hebbian_update(rule: str, hebb: jax.Array, rate: jax.Array, post: jax.Array, pre: jax.Array) -> jax.Array:
    """Hebb_{t+1} from Hebb_t (n, n), a rate η (), post (n,) and pre (n,) activities::

        clip:  clip(Hebb + η post preᵀ, −1, 1)
        decay: (1 − η) Hebb + η post preᵀ
        oja:   Hebb + η post ⊙ (preᵀ − post ⊙ Hebb)      (row-wise Oja rule)
    """
    outer = jnp.outer(post, pre)
    if rule == "clip":
        return jnp.clip(hebb + rate * outer, -1.0, 1.0)
    if rule == "decay":
        return (1.0 - rate) * hebb + rate * outer
    return hebb + rate * post[:, None] * (pre[None, :] - post[:, None] * hebb)


def check_option(name: str, value: str, valid) -> None:
    if value not in valid:
        raise PlastixError(f"{name} must be one of {list(valid)}, got {value!r}.")
