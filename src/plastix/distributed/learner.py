"""The central learner of asynchronous actor-critic: one copy of the parameters, updated with
each gradient as it arrives (Mnih et al. 2016, "Asynchronous methods for deep reinforcement
learning", Algorithm S3, with the shared parameters held by one learner process as in a
parameter server; Dean et al. 2012, "Large scale distributed deep networks", Downpour SGD).

Each actor k computed its gradient g at a copy of the parameters θ_{v_k} (``computed_at`` =
v_k, the learner's version when the copy was sent). The learner, now at version v, applies it
with the run's optax optimizer (clip to a global norm, Adam, skipped if not finite —
``plastix.train.harness.make_optimizer``)::

    staleness τ = v − v_k                      (0: the gradient is of the current policy)
    τ ≤ τ_max:  (u, s) = opt.update(g, s, θ_v);  θ_{v+1} = θ_v + u;  v ← v + 1
    τ > τ_max:  g is dropped (counted), θ and v unchanged

so a run applies exactly ``num_updates`` gradients. Bounding τ is the bounded-staleness
(stale-synchronous) rule of Ho et al. 2013 ("More effective distributed ML via a stale
synchronous parallel parameter server"); A3C's Hogwild! workers (Recht et al. 2011) apply
every gradient, i.e. τ_max = ∞. Nothing here needs Ray: the arithmetic is tested alone.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from plastix.errors import PlastixError, check_nonnegative_int, check_positive_int


class Receipt(NamedTuple):
    """What the learner did with one gradient."""

    accepted: bool  # applied (False: dropped as too stale)
    staleness: int  # τ = version at arrival − version it was computed at
    version: int  # the learner's version after it


class Ledger(NamedTuple):
    """The learner's counts so far (host integers)."""

    applied: int = 0  # gradients applied = the version
    dropped: int = 0  # gradients staler than max_staleness
    staleness_sum: int = 0  # Σ τ over the applied gradients
    staleness_max: int = 0  # max τ over the applied gradients

    @property
    def staleness_mean(self) -> float:
        return self.staleness_sum / self.applied if self.applied else float("nan")


def admit(version: int, computed_at: int, max_staleness: int | None) -> tuple[bool, int]:
    """(accepted, τ) for a gradient computed at ``computed_at`` arriving at ``version``;
    ``max_staleness`` None applies every gradient (Hogwild!-style A3C)."""
    staleness = int(version) - int(computed_at)
    if staleness < 0:
        raise PlastixError(f"a gradient computed at version {computed_at} arrived at learner version {version}: "
                           "an actor cannot be ahead of the learner.")
    return (max_staleness is None or staleness <= max_staleness), staleness


def count(ledger: Ledger, accepted: bool, staleness: int) -> Ledger:
    """The ledger after one gradient (or batch) that was applied (``accepted``) or dropped."""
    if not accepted:
        return ledger._replace(dropped=ledger.dropped + 1)
    return ledger._replace(applied=ledger.applied + 1, staleness_sum=ledger.staleness_sum + staleness,
                           staleness_max=max(ledger.staleness_max, staleness))


def optimizer_apply(optimizer: optax.GradientTransformation, params, opt_state, grads):
    """One optax step: (θ + u, s') with (u, s') = optimizer.update(g, s, θ). Pure."""
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


class Learner:
    """The parameters θ, the optimizer state and the version v of an asynchronous run, on the host.

    ``receive(grads, computed_at)`` applies or drops one gradient (module docstring); the optax
    step is jitted once. ``params`` are what the actors are sent next."""

    def __init__(self, optimizer: optax.GradientTransformation, params: Any, max_staleness: int | None):
        check_max_staleness(max_staleness)
        self.optimizer, self.max_staleness = optimizer, max_staleness
        self.params, self.opt_state = params, optimizer.init(params)
        self.ledger = Ledger()
        self._apply = jax.jit(functools.partial(optimizer_apply, optimizer))

    @property
    def version(self) -> int:
        return self.ledger.applied

    def receive(self, grads: Any, computed_at: int) -> Receipt:
        """Apply ``grads`` (a pytree like ``params``) if it is fresh enough, else count it dropped."""
        accepted, staleness = admit(self.version, computed_at, self.max_staleness)
        if accepted:
            self.params, self.opt_state = self._apply(self.params, self.opt_state, grads)
        self.ledger = count(self.ledger, accepted, staleness)
        return Receipt(accepted, staleness, self.version)

    def host_params(self) -> Any:
        """The parameters as NumPy arrays (what is shipped to the actors)."""
        return jax.tree.map(np.asarray, jax.device_get(self.params))


def check_max_staleness(max_staleness) -> None:
    if max_staleness is not None and (isinstance(max_staleness, bool) or not isinstance(max_staleness, int)
                                      or max_staleness < 0):
        raise PlastixError(f"max_staleness must be an integer >= 0 (or None: no bound), got {max_staleness!r}.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ActorSettings:
    """The actors of a distributed run, shared by ``A3CConfig`` and ``DPPOConfig`` (keyword-only)."""

    actors: int = 2
    """K actor processes computing gradients (A3C) or collecting rollouts (DPPO) at once."""
    max_staleness: int | None = 4
    """Drop what an actor computed more than this many learner updates ago (None: apply all, as Hogwild! A3C)."""
    seed: int = 0
    """θ_0 is the trainer's initialisation of this seed; actor key streams derive from it."""
    cpus_per_actor: float = 1.0
    """CPUs Ray reserves per actor."""
    max_replacements: int = 8
    """Stop the run with an error when more actors than this have died."""

    def check_actors(self) -> None:
        """Validate the actor settings at the boundary. Raises PlastixError."""
        check_positive_int("actors", self.actors)
        check_max_staleness(self.max_staleness)
        if isinstance(self.seed, bool) or not (isinstance(self.seed, int) and self.seed >= 0):
            raise PlastixError(f"seed must be a non-negative integer, got {self.seed!r}.")
        check_nonnegative_int("max_replacements", self.max_replacements)
        if isinstance(self.cpus_per_actor, bool) or not (isinstance(self.cpus_per_actor, (int, float))
                                                          and self.cpus_per_actor >= 0):
            raise PlastixError(f"cpus_per_actor must be a number >= 0, got {self.cpus_per_actor!r}.")


__all__ = ["ActorSettings", "Ledger", "Learner", "Receipt", "admit", "check_max_staleness", "count",
           "optimizer_apply"]
