"""Grid worlds from small text maps, and the built-in grid tasks (docs/mdp.md).

A map is a list of rows; a row is either whitespace-separated tokens ("S . . +1") or one
character per cell ("SFFG"). Tokens:

====================  ==========================================================================
``.`` or ``F``        free cell (reward ``living``)
``S``                 the start (a free cell; or pass ``start=(row, col)``)
``#`` or ``W``        wall: not a state; moving into it (or off the map) stays put
``C``                 cliff (not a state): moving into it gives ``cliff_reward`` and sends the
                      agent back to the start
``G`` / ``H``         final cell with reward ``goal_reward`` / ``hole_reward``
a number (``+10``)    final cell with that reward
====================  ==========================================================================

Actions are N, E, S, W (0..3). The intended move happens with probability 1 − slip and each of
the two perpendicular moves with probability slip/2 (R&N's 0.8/0.1/0.1 is slip = 0.2; slippery
FrozenLake is slip = 2/3). Rewards follow ``reward_on``:

* ``"state"`` (R&N): R[s, a, s'] = R(cell s), and a final cell's utility is its reward:
  U(s) = R(s) + γ max_a Σ P U(s') (R&N eq. 17.5);
* ``"arrival"`` (Sutton & Barto, FrozenLake): R[s, a, s'] = reward of the cell moved into
  (bumping a wall "arrives" at the same cell), final utility 0.

Episodes are capped at ``max_episode_steps`` (an auto-reset to the start, as a truncation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from plastix.errors import PlastixError, unknown_name
from plastix.mdp.mdp import MDP, mdp_from_arrays

ACTIONS = ("N", "E", "S", "W")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
FREE, WALLS, CLIFF = (".", "F", "S"), ("#", "W"), "C"


@dataclasses.dataclass(frozen=True)
class GridLayout:
    """Where states sit on the grid. state_of[r, c] = state index or −1 (wall or cliff);
    cells[s] = (r, c); ``kinds[r][c]`` = the map token."""

    shape: tuple[int, int]
    state_of: np.ndarray
    cells: tuple[tuple[int, int], ...]
    kinds: tuple[tuple[str, ...], ...]

    def to_grid(self, per_state: Sequence, fill=None) -> list[list]:
        """Lay per-state values out as rows (top to bottom), ``fill`` for walls and cliffs."""
        return [[fill if s < 0 else per_state[s] for s in row] for row in self.state_of.tolist()]


@dataclasses.dataclass(frozen=True)
class GridTask:
    """A named grid world: its MDP, layout, default γ and episode cap."""

    name: str
    mdp: MDP
    layout: GridLayout
    max_episode_steps: int

    def with_gamma(self, gamma: float | None) -> "GridTask":
        if gamma is None:
            return self
        if not np.isfinite(gamma) or not 0.0 < gamma <= 1.0:
            raise PlastixError(f"gamma must be in (0, 1], got {gamma!r}.")
        return dataclasses.replace(self, mdp=self.mdp.replace(gamma=jnp.asarray(gamma, self.mdp.R.dtype)))


def _tokens(rows: Sequence[str]) -> list[list[str]]:
    rows = [r.strip() for r in rows if r.strip()]
    if not rows:
        raise PlastixError("the grid map is empty.")
    grid = [r.split() if any(ch.isspace() for ch in r) else list(r) for r in rows]
    widths = {len(r) for r in grid}
    if len(widths) != 1:
        raise PlastixError(f"every map row must have the same number of cells, got widths {sorted(widths)}.")
    return grid


def _cell_reward(tok: str, r: int, c: int, living: float, goal: float, hole: float):
    """(reward, final?) of a non-wall token; raises on an unknown symbol naming the cell."""
    if tok in FREE or tok == CLIFF:
        return living, False
    if tok == "G":
        return goal, True
    if tok == "H":
        return hole, True
    try:
        value = float(tok)
    except ValueError:
        raise PlastixError(
            f"unknown map symbol {tok!r} at row {r}, column {c}; expected one of "
            ". F S # W C G H or a number (a final cell's reward)."
        ) from None
    if not np.isfinite(value):
        raise PlastixError(f"non-finite reward {tok!r} at row {r}, column {c}.")
    return value, True


def _find_start(grid, start):
    if start is not None:
        r, c = start
        if not (0 <= r < len(grid) and 0 <= c < len(grid[0])):
            raise PlastixError(f"start {start} is outside the {len(grid)}x{len(grid[0])} map.")
        return r, c
    found = [(r, c) for r, row in enumerate(grid) for c, t in enumerate(row) if t == "S"]
    if len(found) != 1:
        raise PlastixError(f"the map needs exactly one start 'S' (or pass start=), found {len(found)}.")
    return found[0]


def grid_from_text(rows: Sequence[str] | str, *, slip: float = 0.2, living: float = 0.0,
                   goal_reward: float = 1.0, hole_reward: float = 0.0, cliff_reward: float = -100.0,
                   reward_on: str = "state", gamma: float = 0.9, start: tuple[int, int] | None = None,
                   max_episode_steps: int = 100, name: str = "custom") -> GridTask:
    """Build a grid task from a text map (see module docstring). Raises PlastixError for unknown
    symbols, ragged rows, a missing or walled start, or a slip outside [0, 1]."""
    grid = _tokens(rows.splitlines() if isinstance(rows, str) else rows)
    if reward_on not in ("state", "arrival"):
        raise unknown_name("reward convention", reward_on, ("state", "arrival"))
    if not 0.0 <= slip <= 1.0:
        raise PlastixError(f"slip must be in [0, 1], got {slip!r}.")
    if int(max_episode_steps) < 1:
        raise PlastixError(f"max_episode_steps must be >= 1, got {max_episode_steps!r}.")
    H, W = len(grid), len(grid[0])
    state_of = -np.ones((H, W), int)
    cells, rewards, final = [], [], []
    for r, row in enumerate(grid):
        for c, tok in enumerate(row):
            if tok in WALLS or tok == CLIFF:  # cliff cells are not states: entering one teleports
                continue
            rew, fin = _cell_reward(tok, r, c, living, goal_reward, hole_reward)
            state_of[r, c] = len(cells)
            cells.append((r, c))
            rewards.append(rew)
            final.append(fin)
    sr, sc = _find_start(grid, start)
    if state_of[sr, sc] < 0:
        raise PlastixError(f"the start (row {sr}, column {sc}) is on a wall or cliff {grid[sr][sc]!r}.")
    if final[state_of[sr, sc]]:
        raise PlastixError(f"the start (row {sr}, column {sc}) is a final cell.")
    P, R = _transitions(grid, state_of, cells, np.array(rewards), np.array(final), (sr, sc),
                        slip, cliff_reward, reward_on)
    mdp = mdp_from_arrays(P, R, gamma=gamma, start=int(state_of[sr, sc]), terminal=np.array(final),
                          R_final=np.where(final, rewards, 0.0) if reward_on == "state" else np.zeros(len(cells)))
    layout = GridLayout((H, W), state_of, tuple(cells), tuple(tuple(r) for r in grid))
    return GridTask(name, mdp, layout, int(max_episode_steps))


def _transitions(grid, state_of, cells, rewards, final, start, slip, cliff_reward, reward_on):
    """Dense P (S, A, S) and R (S, A, S) = E[reward | s, a, s'] for the slip model."""
    S, H, W = len(cells), *state_of.shape
    P, PR = np.zeros((S, 4, S)), np.zeros((S, 4, S))
    s0 = state_of[start]
    for s, (r, c) in enumerate(cells):
        for a in range(4):
            if final[s]:  # absorbing; never used by the solvers (U = R_final)
                P[s, a, s] = 1.0
                continue
            outcomes = ((a, 1.0 - slip), ((a + 1) % 4, slip / 2), ((a + 3) % 4, slip / 2))
            for d, p in outcomes:
                if p == 0.0:
                    continue
                nr, nc = r + MOVES[d][0], c + MOVES[d][1]
                on_map = 0 <= nr < H and 0 <= nc < W
                inside = on_map and state_of[nr, nc] >= 0
                nxt = state_of[nr, nc] if inside else s
                if on_map and grid[nr][nc] == CLIFF:
                    nxt, rew = s0, cliff_reward
                else:
                    rew = rewards[nxt] if reward_on == "arrival" else rewards[s]
                P[s, a, nxt] += p
                PR[s, a, nxt] += p * rew
    R = np.where(P > 0, PR / np.where(P > 0, P, 1.0), 0.0)
    return P, R


LECTURE_MAP = ("S . .", ". -10 +10")
AIMA_MAP = (". . . +1", ". # . -1", "S . . .")
CLIFF_MAP = ("." * 12, "." * 12, "." * 12, "S" + "C" * 10 + "G")
FROZENLAKE_4X4 = ("SFFF", "FHFH", "FFFH", "HFFG")
FROZENLAKE_8X8 = ("SFFFFFFF", "FFFFFFFF", "FFFHFFFF", "FFFFFHFF",
                  "FFFHFFFF", "FHHFFFHF", "FHFFHFHF", "FFFHFFFG")

_BUILDERS = {
    # A small 2x3 grid with a trap and a goal; γ = 0.9 is our default.
    "lecture-grid": lambda: grid_from_text(LECTURE_MAP, slip=0.2, living=0.0, gamma=0.9,
                                           name="lecture-grid"),
    # R&N fig. 17.1: R(s) = -0.04, γ = 1 as in fig. 17.3.
    "aima-4x3": lambda: grid_from_text(AIMA_MAP, slip=0.2, living=-0.04, gamma=1.0, name="aima-4x3"),
    # S&B example 6.6: -1 per step, -100 and back to start on the cliff, undiscounted.
    "cliff-walking": lambda: grid_from_text(CLIFF_MAP, slip=0.0, living=-1.0, goal_reward=-1.0,
                                            cliff_reward=-100.0, reward_on="arrival", gamma=1.0,
                                            max_episode_steps=500, name="cliff-walking"),
    # Gymnasium FrozenLake (is_slippery): intended and both perpendicular moves 1/3 each; +1 at G.
    "frozenlake-4x4": lambda: grid_from_text(FROZENLAKE_4X4, slip=2 / 3, reward_on="arrival",
                                             gamma=0.99, max_episode_steps=100, name="frozenlake-4x4"),
    "frozenlake-8x8": lambda: grid_from_text(FROZENLAKE_8X8, slip=2 / 3, reward_on="arrival",
                                             gamma=0.99, max_episode_steps=200, name="frozenlake-8x8"),
}
GRID_TASKS = tuple(_BUILDERS)


def make_grid(name: str, gamma: float | None = None) -> GridTask:
    """A built-in grid task by name (``GRID_TASKS``), optionally with another discount γ."""
    if name not in _BUILDERS:
        raise unknown_name("grid task", name, GRID_TASKS)
    return _BUILDERS[name]().with_gamma(gamma)
