"""A fixed number of Ray actors, each with at most one task in flight, replaced when one dies.

The learner loop of an asynchronous run is::

    fleet.start(); for each slot: fleet.submit(slot, "compute", θ_ref, v)
    while budget not spent:
        slot, answer = fleet.next()          ray.wait for the first finished task, ray.get it
        answer None  -> the actor died (RayActorError): a fresh actor (same settings, a new key
                        stream) took its slot; give it work
        else         -> use the answer, give the slot new work

Fault tolerance in the manner of Ray's own (Moritz et al. 2018, "Ray: a distributed framework
for emerging AI applications", §4.2.3: an actor that dies is rebuilt; here the learner rebuilds
it, since the actor's state — its setup and key stream — is cheap to make anew, and the lost
task was only one gradient). ``max_replacements`` stops a run whose actors keep dying.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from plastix.errors import PlastixError


class Fleet:
    """``size`` actors of the Ray actor class ``actor_cls``; ``make_args(stream) -> args`` gives
    the constructor arguments of the actor with key stream ``stream`` (0, 1, ..., never reused)."""

    def __init__(self, ray, actor_cls, make_args: Callable[[int], tuple], size: int, max_replacements: int):
        self.ray, self.actor_cls, self.make_args = ray, actor_cls, make_args
        self.handles: list[Any] = [None] * size
        self.streams: list[int] = [-1] * size
        self.pending: dict[Any, int] = {}  # ObjectRef -> slot
        self.next_stream, self.replaced, self.max_replacements = 0, 0, max_replacements

    def start(self) -> None:
        for slot in range(len(self.handles)):
            self.spawn(slot)

    def spawn(self, slot: int) -> None:
        stream, self.next_stream = self.next_stream, self.next_stream + 1
        self.handles[slot] = self.actor_cls.remote(*self.make_args(stream))
        self.streams[slot] = stream

    def submit(self, slot: int, method: str, *args) -> None:
        """Start ``handles[slot].method(*args)``; its answer comes out of ``next``."""
        self.pending[getattr(self.handles[slot], method).remote(*args)] = slot

    def next(self) -> tuple[int, Any]:
        """(slot, answer) of the first task to finish; answer None if its actor died (then a
        fresh actor already holds the slot and has no task)."""
        ready, _ = self.ray.wait(list(self.pending), num_returns=1)
        slot = self.pending.pop(ready[0])
        try:
            return slot, self.ray.get(ready[0])
        except self.ray.exceptions.RayActorError:
            self.replace(slot)
            return slot, None

    def replace(self, slot: int) -> None:
        if self.replaced >= self.max_replacements:
            raise PlastixError(f"{self.replaced + 1} actors died in this run (at most {self.max_replacements} are "
                               "replaced); see the Ray logs (/tmp/ray/session_latest/logs) for why.")
        self.kill(slot)
        self.spawn(slot)
        self.replaced += 1

    def kill(self, slot: int) -> None:
        try:
            self.ray.kill(self.handles[slot], no_restart=True)
        except Exception:  # noqa: BLE001 — already gone
            pass

    def shutdown(self) -> None:
        """End every actor (their tasks in flight are dropped)."""
        self.pending.clear()
        for slot in range(len(self.handles)):
            self.kill(slot)


__all__ = ["Fleet"]
