"""``plastix check-grads`` and ``plastix influence``.

    plastix check-grads --core elman [--hidden 8] [--steps 12] [--opt modulation=simple] [--json]
    plastix influence --core elman --core lstm [--steps 50] [--hidden 16] [--out influence.png] [--json]

check-grads exits with 0 when every method is within tolerance of autodiff BPTT (1e-8 relative
for hand-bptt, rtrl and truncated-bptt; 1e-5 for finite differences; see
``plastix.grads.check``) and 1 otherwise. With ``--json`` stdout carries exactly one JSON
object: the dict returned by ``plastix.grads.check.check_grads``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Annotated

import tyro

from plastix.errors import PlastixError, check_positive_int


def parse_options(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE strings -> dict; values are read as int, float, true/false or else str."""
    options = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise PlastixError(f"core options are KEY=VALUE, got {pair!r}.")
        options[key.replace("-", "_")] = _parse_value(raw)
    return options


def _parse_value(raw: str):
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def _json_safe(value):
    """JSON has no NaN/inf: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class CheckGradsArgs:
    """Check a core's gradients: hand-bptt, rtrl, truncated-bptt and finite differences against
    autodiff BPTT, in float64, on a random sequence with an episode reset in the middle."""

    core: str
    """Core name (see `plastix list`), e.g. elman, peephole-lstm, plastic-rnn, neuromod-rnn."""
    hidden: int = 8
    """Hidden size n of the core."""
    steps: int = 12
    """Sequence length T (>= 2; the reset is at step T // 2)."""
    input_size: int = 3
    """Input size d."""
    seed: int = 0
    """Seed of the random instance (weights, inputs, targets, finite-difference coordinates)."""
    opt: tuple[str, ...] = ()
    """Core options as KEY=VALUE, e.g. --opt modulation=simple --opt alpha=neuron."""
    json: bool = False
    """Print one JSON object on stdout (and nothing else) instead of a table."""

    def run(self) -> int:
        from plastix.grads.check import check_grads

        result = check_grads(self.core, hidden=self.hidden, steps=self.steps, input_size=self.input_size,
                             seed=self.seed, **parse_options(self.opt))
        if self.json:
            print(json.dumps(_json_safe(result)))
        else:
            _print_table(result)
        return 0 if result["ok"] else 1


def _print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"check-grads {result['core']} (n={result['hidden']}, T={result['steps']}, "
                        f"{result['n_params']} params, float64)")
    for col in ("method", "max rel. error vs BPTT", "tolerance", "status"):
        table.add_column(col)
    for name, err in result["max_rel_err"].items():
        tol = result["tolerance"][name]
        status = "[green]ok[/green]" if err <= tol else "[red]FAIL[/red]"
        label = name if name != "finite-diff" else f"finite-diff ({result['fd_coords']} coords)"
        table.add_row(label, f"{err:.2e}", f"{tol:.0e}", status)
    Console().print(table)


@dataclasses.dataclass(frozen=True)
class InfluenceArgs:
    """Plot the input influence ‖∂y_T/∂x_t‖ against t for one or more cores (seed 001's
    vanishing-gradient figures): random weights, one random input sequence."""

    core: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """Core name; repeat for several (--core elman --core lstm). Default: elman and lstm."""
    steps: int = 50
    """Sequence length T."""
    hidden: int = 16
    """Hidden size n of every core."""
    input_size: int = 1
    """Input size d."""
    seed: int = 0
    """Seed of the weights and of the input sequence (the same inputs for every core)."""
    out: str = "influence.png"
    """Path of the PNG written."""
    json: bool = False
    """Print one JSON object {"steps", "out", "norms": {core: [T floats]}} on stdout."""

    def run(self) -> int:
        import jax

        from plastix.cores import make_core
        from plastix.grads.base import SeqModel
        from plastix.grads.influence import input_influence, plot_influence

        check_positive_int("steps", self.steps)
        cores = self.core or ("elman", "lstm")
        k_par, k_x = jax.random.split(jax.random.PRNGKey(self.seed))
        xs = jax.random.normal(k_x, (self.steps, self.input_size), "float32")
        norms = {}
        for name in cores:
            model = SeqModel(make_core(name, self.input_size, self.hidden), 1)
            norms[name] = [float(v) for v in input_influence(model, model.init(k_par), xs)]
        plot_influence(norms, self.out)
        if self.json:
            print(json.dumps(_json_safe({"steps": self.steps, "out": self.out, "norms": norms})))
        else:
            for name, v in norms.items():
                print(f"{name}: ‖∂y_T/∂x_1‖ = {v[0]:.3e}, ‖∂y_T/∂x_T‖ = {v[-1]:.3e}")
            print(f"wrote {self.out}")
        return 0
