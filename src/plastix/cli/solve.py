"""``plastix solve TASK``: plan on a known grid MDP and print the utilities and the policy."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Annotated

import numpy as np
import tyro

from plastix.errors import PlastixError, unknown_name

METHODS = ("value-iteration", "policy-iteration")


@dataclasses.dataclass(frozen=True)
class SolveArgs:
    """Solve a known grid MDP (lecture-grid, aima-4x3, cliff-walking, frozenlake-4x4, frozenlake-8x8)."""

    task: Annotated[str, tyro.conf.Positional]
    """Grid task name."""
    gamma: float | None = None
    """Discount γ in (0, 1]; None = the task's default."""
    method: str = "value-iteration"
    """value-iteration or policy-iteration."""
    tol: float = 1e-8
    """Value iteration stops when ‖U − U*‖∞ < tol is guaranteed (γ < 1: δ < tol(1−γ)/γ)."""
    json: bool = False
    """Print one JSON object {values, policy, iterations, residual} (grid layout, null for walls)."""

    def run(self) -> int:
        import jax

        with jax.enable_x64(True):  # plan in float64 so that small tolerances are reachable
            return self._solve()

    def _solve(self) -> int:
        from plastix.mdp.grids import ACTIONS, make_grid
        from plastix.mdp.planning import policy_iteration, value_iteration

        if self.method not in METHODS:
            raise unknown_name("method", self.method, METHODS)
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise PlastixError(f"--tol must be a positive number, got {self.tol!r}.")
        task = make_grid(self.task, self.gamma)
        if self.method == "value-iteration":
            res = value_iteration(task.mdp, tol=self.tol)
        else:
            res = policy_iteration(task.mdp)
        values = np.asarray(res.values).tolist()
        terminal = np.asarray(task.mdp.terminal)
        actions = [None if terminal[s] else ACTIONS[int(a)] for s, a in enumerate(np.asarray(res.policy))]
        out = {"values": task.layout.to_grid(values), "policy": task.layout.to_grid(actions),
               "iterations": int(res.iterations), "residual": float(res.residual)}
        if self.json:
            print(json.dumps(out))
        else:
            print(render_text(self.task, float(task.mdp.gamma), self.method, out))
        return 0


ARROW = {"N": "↑", "E": "→", "S": "↓", "W": "←", None: "■"}


def render_text(name: str, gamma: float, method: str, out: dict) -> str:
    """The utilities grid and the policy as arrows (■ final cell, # wall or cliff)."""
    vals = [["#" if v is None else f"{v:.3f}" for v in row] for row in out["values"]]
    width = max(len(x) for row in vals for x in row)
    lines = [f"{name}: {method}, γ = {gamma:g}, {out['iterations']} iterations, residual {out['residual']:.3g}",
             "", "Utilities U(s):"]
    lines += ["  " + " ".join(x.rjust(width) for x in row) for row in vals]
    lines += ["", "Policy:"]
    for vrow, prow in zip(out["values"], out["policy"]):
        lines.append("  " + " ".join("#" if v is None else ARROW[p] for v, p in zip(vrow, prow)))
    return "\n".join(lines)
