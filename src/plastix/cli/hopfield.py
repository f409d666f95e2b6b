"""``plastix hopfield capacity``: the storage capacity of Hopfield networks.

    plastix hopfield capacity --n 100 200 500 --draws 10 --json --out docs/hopfield_capacity.png

Measures the fraction of stored patterns recalled against the load P/N for the classical rules
(``plastix.hopfield.capacity``; asynchronous dynamics from the stored pattern, recalled when the
final overlap m >= --threshold) and the modern network (one update), prints the table (or, with
--json, one JSON object on stdout) and draws the figure (``plastix.hopfield.plots``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Literal

import tyro

from plastix.errors import PlastixError, unknown_name

CLASSICAL = ("hebbian", "storkey", "pseudo-inverse")


@dataclasses.dataclass(frozen=True)
class HopfieldArgs:
    """Hopfield networks (Hopfield 1982; Ramsauer et al. 2021): the capacity experiment — the fraction
    of stored patterns recalled against the load P/N, for each rule and network size."""

    action: Annotated[Literal["capacity"], tyro.conf.Positional] = "capacity"
    """What to run: capacity (the table and the figure)."""
    n: tuple[int, ...] = (100, 200, 500)
    """Network sizes N (units; the modern network's pattern dimension)."""
    draws: int = 10
    """Independent networks (random pattern sets) per point."""
    rules: tuple[str, ...] = (*CLASSICAL, "modern")
    """Models: hebbian, storkey, pseudo-inverse (classical) and modern."""
    loads: tuple[float, ...] | None = None
    """Loads P/N of the classical rules; None = 0.02, 0.03, ..., 0.30 (hebbian), then up to 0.9 (storkey,
    pseudo-inverse)."""
    modern_loads: tuple[float, ...] | None = None
    """Loads P/N of the modern network; None = 0.05 ... 10."""
    probes: int = 20
    """Stored patterns used as cues per network (all of them when P is smaller)."""
    flip: float = 0.0
    """Fraction of the cue's bits flipped (0: start from the stored pattern)."""
    threshold: float = 0.967
    """A pattern is recalled when the final overlap m = ξ·s/N is at least this (0.967: the retrieval state's
    overlap at the critical load, Amit, Gutfreund & Sompolinsky 1985)."""
    beta: float = 1.0
    """Inverse temperature β of the modern network."""
    max_sweeps: int = 50
    """Asynchronous sweeps at most (classical)."""
    seed: int = 0
    """Seed of the pattern sets, cue flips and update orders."""
    out: str | None = "hopfield_capacity.png"
    """PNG of the figure (refuses to overwrite an existing file without --force); None (--out None) = no figure."""
    force: bool = False
    """Overwrite --out if it exists."""
    json: bool = False
    """Print one JSON object {"settings", "rows", "collapse", "out"} on stdout instead of the table."""

    def run(self) -> int:
        return run_capacity(self)


def run_capacity(args: HopfieldArgs) -> int:
    import jax

    from plastix.hopfield.capacity import MODELS, CapacitySettings, capacity_curve, collapse_load, default_loads

    for rule in args.rules:
        if rule not in MODELS:
            raise unknown_name("Hopfield model", rule, MODELS)
    if not args.n:
        raise PlastixError("--n needs at least one network size.")
    if not 0.0 < args.threshold <= 1.0:
        raise PlastixError(f"--threshold must be an overlap in (0, 1], got {args.threshold!r}.")
    from plastix.cli.outputs import atomic_output, output_file

    out = None if args.out in (None, "None") else output_file(args.out, args.force, ".png")
    settings = CapacitySettings(probes=args.probes, flip=args.flip, threshold=args.threshold, beta=args.beta,
                                max_sweeps=args.max_sweeps)
    key = jax.random.PRNGKey(args.seed)
    rows, collapse = [], {}
    for rule in args.rules:
        given = args.modern_loads if rule == "modern" else args.loads
        loads = given or default_loads(rule)
        check_capacity_fits(args.n, loads, args.draws)
    for rule in args.rules:
        given = args.modern_loads if rule == "modern" else args.loads
        loads = given or default_loads(rule)
        for N in args.n:
            curve = capacity_curve(key, rule, N, tuple(sorted(loads)), args.draws, settings)
            rows += curve
            collapse.setdefault(rule, {})[str(N)] = collapse_load([r["load"] for r in curve],
                                                                  [r["recalled"] for r in curve])
    if out is not None:
        from plastix.hopfield.plots import plot_capacity

        cue = f"a cue with {args.flip:.0%} of its bits flipped" if args.flip else "the stored pattern"
        with atomic_output(out) as tmp:
            plot_capacity(rows, tmp, title=f"recalled: final overlap m ≥ {args.threshold} from {cue}; "
                                           f"{args.draws} networks × ≤ {args.probes} patterns per point")
        out = str(out)
    if args.json:
        print(json.dumps({"settings": {**settings._asdict(), "draws": args.draws, "seed": args.seed},
                          "rows": rows, "collapse": collapse, "out": out}))
    else:
        print_table(rows, collapse, out)
    return 0


def check_capacity_fits(sizes, loads, draws: int) -> None:
    """Refuse, before allocating, network sizes whose weight matrices and stored patterns (all
    draws at once, float32) cannot fit in memory."""
    from plastix.errors import check_positive_int
    from plastix.memory import check_fits, format_count

    for N in sizes:
        check_positive_int("N", N)
        check_positive_int("draws", draws)
        P = max([1, *(round(a * N) for a in loads if a > 0)])
        check_fits(4 * draws * (N * N + P * N), f"{draws} networks x ({format_count(N)}^2 weights + "
                   f"{format_count(P)} patterns x {format_count(N)}) x 4 bytes", "--n or --draws")


def print_table(rows: list[dict], collapse: dict, out: str | None) -> None:
    """One table per model: loads as rows, N as columns (fraction recalled); readable at 80
    columns when stdout is not a terminal (``plastix.cli.tables``)."""
    from plastix.cli import tables

    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        sizes = list(dict.fromkeys(r["N"] for r in mine))
        by_load: dict = {}
        for r in mine:
            by_load.setdefault(round(r["load"], 2), {})[r["N"]] = r["recalled"]
        body = [[f"{load:.2f}", *(f"{values[N]:.2f}" if N in values else "" for N in sizes)]
                for load, values in sorted(by_load.items())]
        tables.print_table(f"{model}: fraction of patterns recalled", ["P/N", *(f"N = {N}" for N in sizes)], body)
        drops = ", ".join(f"N = {N}: {'none' if a is None else f'{a:.3f}'}" for N, a in collapse[model].items())
        tables.print_wrapped(f"{model}: recalled fraction falls below 1/2 at P/N ≈ {drops}")
    if out:
        print(f"wrote {out}")  # one line: a path is not wrapped
