"""``plastix check-grads`` and ``plastix influence``.

    plastix check-grads --core elman [--hidden 8] [--steps 12] [--core-opt modulation=simple] [--json]
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
from pathlib import Path
from typing import Annotated

import tyro

from plastix.options import parse_options
from plastix.errors import PlastixError, check_positive_int


def trained_influence(run_dir: str, seed: int = 0):
    """(label, ‖∂y_T/∂x_t‖ for t = 1..T) of a supervised run's first-seed network, on one
    sequence of its task at its T (drawn with ``seed``)."""
    import jax

    from plastix.grads.influence import input_influence
    from plastix.runs import load_params, read_config
    from plastix.train.supervised import SupervisedConfig, build_model, validate

    from plastix.algorithms import algorithm_of_run

    saved = read_config(run_dir)
    entry = algorithm_of_run(saved)[0]
    if entry.name != "supervised":
        raise PlastixError(f"--from-run {run_dir!r} was trained with --algo {entry.name}; input influence needs a "
                           "supervised sequence run (plastix train TASK --algo supervised).")
    resolved = saved.get("config", {}).get("resolved")
    if not resolved:
        raise PlastixError(f"{run_dir!r} is not a supervised run (its config.json has no resolved settings).")
    resolved["core_options"] = tuple(tuple(kv) for kv in resolved.get("core_options", ()))
    config = SupervisedConfig(**resolved)
    task = validate(config)
    model = build_model(config, task)
    params = load_params(run_dir, model.init(jax.random.PRNGKey(0)))
    batch = task.sample(jax.random.PRNGKey(seed), 1, config.seq_len, model.core.jdtype)
    return f"{config.core} trained ({Path(run_dir).name})", input_influence(model, params, batch.xs[0])


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
    core_opt: tuple[str, ...] = ()
    """Core options as KEY=VALUE, as for plastix train, e.g. --core-opt modulation=simple alpha=neuron."""
    opt: tuple[str, ...] = ()
    """The same as --core-opt (its earlier, shorter name); the two are merged."""
    json: bool = False
    """Print one JSON object on stdout (and nothing else) instead of a table."""

    def run(self) -> int:
        from plastix.grads.check import check_grads

        check_positive_int("hidden", self.hidden)
        check_positive_int("input_size", self.input_size)
        options = parse_options(self.core_opt + self.opt)
        check_instance_fits(self.core, self.hidden, self.steps, self.input_size, **options)
        result = check_grads(self.core, hidden=self.hidden, steps=self.steps, input_size=self.input_size,
                             seed=self.seed, **options)
        if self.json:
            print(json.dumps(_json_safe(result)))
        else:
            _print_table(result)
        return 0 if result["ok"] else 1


def check_instance_fits(core_name: str, hidden: int, steps: int, input_size: int, **core_opts) -> None:
    """Refuse, before allocating, a check whose RTRL sensitivities (state size × parameters,
    float64; the largest array of the check) or BPTT's stored states cannot fit in memory."""
    import jax

    from plastix.cores import make_core
    from plastix.grads.base import SeqModel
    from plastix.grads.check import OUTPUT_SIZE
    from plastix.memory import check_fits, format_count, leaf_count

    core = make_core(core_name, input_size, hidden, **core_opts)  # float32 shapes: the same counts
    model = SeqModel(core, OUTPUT_SIZE, loss="mse")
    n_params = leaf_count(jax.eval_shape(model.init, jax.random.PRNGKey(0)))
    n_state = leaf_count(jax.eval_shape(lambda: core.initial_carry()))
    check_fits(8 * 3 * n_state * n_params + 8 * steps * n_state,
               f"RTRL sensitivities 3 x {format_count(n_state)} states x {format_count(n_params)} parameters "
               "x 8 bytes", "--hidden")


def _print_table(result: dict) -> None:
    from plastix.cli.tables import print_table

    rows = []
    for name, err in result["max_rel_err"].items():
        tol = result["tolerance"][name]
        label = name if name != "finite-diff" else f"finite-diff ({result['fd_coords']} coords)"
        rows.append([label, f"{err:.2e}", f"{tol:.0e}", "ok" if err <= tol else "FAIL"])
    print_table(f"check-grads {result['core']} (n={result['hidden']}, T={result['steps']}, "
                f"{result['n_params']} params, float64)", ["method", "max rel. error vs BPTT", "tolerance", "status"],
                rows, no_wrap=("method",))


@dataclasses.dataclass(frozen=True)
class InfluenceArgs:
    """Plot the input influence ‖∂y_T/∂x_t‖ against t for one or more cores (the
    vanishing-gradient figures of Graves 2012, Figs. 4.1 and 4.4): random weights and one random input sequence, or the trained
    networks of supervised run directories (--from-run) on one sequence of their task."""

    core: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """Core name; repeat for several (--core elman --core lstm). Default: elman and lstm (none with --from-run)."""
    from_run: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """Supervised run directory whose trained network (first seed) to use; repeatable."""
    steps: int = 50
    """Sequence length T."""
    hidden: int = 16
    """Hidden size n of every core."""
    input_size: int = 1
    """Input size d."""
    seed: int = 0
    """Seed of the weights and of the input sequence (the same inputs for every core)."""
    out: str = "influence.png"
    """Path of the PNG written (refuses to overwrite an existing file without --force)."""
    force: bool = False
    """Overwrite --out if it exists."""
    json: bool = False
    """Print one JSON object {"steps", "out", "norms": {core: [T floats]}} on stdout."""

    def run(self) -> int:
        import jax

        from plastix.cores import make_core
        from plastix.grads.base import SeqModel
        from plastix.grads.influence import input_influence, plot_influence

        from plastix.cli.outputs import atomic_output, output_file

        check_positive_int("steps", self.steps)
        out = output_file(self.out, self.force, ".png")
        cores = self.core or (() if self.from_run else ("elman", "lstm"))
        k_par, k_x = jax.random.split(jax.random.PRNGKey(self.seed))
        xs = jax.random.normal(k_x, (self.steps, self.input_size), "float32")
        norms = {}
        for name in cores:
            model = SeqModel(make_core(name, self.input_size, self.hidden), 1)
            norms[name] = [float(v) for v in input_influence(model, model.init(k_par), xs)]
        for run_dir in self.from_run:
            label, values = trained_influence(run_dir, self.seed)
            norms[label] = [float(v) for v in values]
        with atomic_output(out) as tmp:
            plot_influence(norms, str(tmp))
        if self.json:
            print(json.dumps(_json_safe({"steps": self.steps, "out": str(out), "norms": norms})))
        else:
            for name, v in norms.items():
                print(f"{name}: ‖∂y_T/∂x_1‖ = {v[0]:.3e}, ‖∂y_T/∂x_T‖ = {v[-1]:.3e}")
            print(f"wrote {out}")
        return 0
