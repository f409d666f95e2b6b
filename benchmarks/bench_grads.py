"""Time and memory of gradient methods per sequence: bptt, hand-bptt, truncated-bptt, rtrl.

    python benchmarks/bench_grads.py [--quick] [--markdown docs/benchmarks.md]

For each core (elman, peephole-lstm, neuromod-rnn), hidden size n and sequence length T it
jit-compiles ``batched_value_and_grad`` over a batch of B sequences (vmap) and reports

* time per sequence: median over ``--repeats`` runs (``block_until_ready``) / B;
* memory per sequence: XLA's compiled ``memory_analysis().temp_size_in_bytes`` / B — the
  scratch the compiled gradient needs besides its inputs and outputs (deterministic);

with ratios to bptt measured in the same run, and fits the scaling of memory with T
(log-log slope: BPTT ≈ 1, i.e. linear in T; RTRL ≈ 0, independent of T).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from plastix.cores import make_core
from plastix.grads.base import SeqModel, batched_value_and_grad, bptt, make_batch
from plastix.grads.hand import hand_bptt, supports_hand_bptt

try:  # the registry of the other gradient methods (optional)
    from plastix.grads import make_grad_method
except ImportError:  # pragma: no cover - depends on the build
    make_grad_method = None

CORES = {"elman": {}, "peephole-lstm": {}, "neuromod-rnn": {"modulation": "retroactive"}}
RTRL_BUDGET = 3e9  # skip RTRL when n_s·n_θ·n·T·B (flops of the sensitivity update) exceeds it
TRUNC_WINDOW = 20
MIN_REPEAT_SECONDS = 0.05


def methods(T: int) -> dict:
    found = {"bptt": bptt(), "hand-bptt": hand_bptt()}
    if make_grad_method is not None:
        found["truncated-bptt"] = make_grad_method("truncated-bptt", window=min(TRUNC_WINDOW, T))
        found["rtrl"] = make_grad_method("rtrl")
    return found


def problem(core_name: str, n: int, T: int, B: int, d: int = 4, out: int = 2):
    core = make_core(core_name, d, n, dtype="float32", **CORES[core_name])
    model = SeqModel(core, out)
    k_p, k_x, k_t = jax.random.split(jax.random.PRNGKey(0), 3)
    params = model.init(k_p)
    batch = make_batch(jax.random.normal(k_x, (B, T, d)), jax.random.normal(k_t, (B, T, out)))
    return model, params, batch


def rtrl_cost(model, params, T: int, B: int) -> float:
    from plastix.grads import sensitivity_size

    return float(sensitivity_size(model, params.core)) * model.core.hidden_size * T * B


def measure(method, model, params, batch, repeats: int):
    """(median seconds per sequence, temp bytes per sequence)."""
    B = batch.xs.shape[0]
    f = jax.jit(lambda p, b: batched_value_and_grad(method, model, p, b))
    compiled = f.lower(params, batch).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(params, batch))
    calls = max(1, int(MIN_REPEAT_SECONDS / max(time.perf_counter() - t0, 1e-6)))
    times = []
    for _ in range(repeats):  # each repeat: enough calls to last ≥ MIN_REPEAT_SECONDS
        t0 = time.perf_counter()
        for _ in range(calls):
            out = compiled(params, batch)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t0) / calls)
    return statistics.median(times) / B, temp / B


def skip_reason(name: str, model, params, T: int, B: int) -> str | None:
    if name == "hand-bptt" and not supports_hand_bptt(model.core):
        return "n/a"
    if name == "rtrl" and rtrl_cost(model, params, T, B) > RTRL_BUDGET:
        return "skipped"
    return None


def run(cores, sizes, lengths, B: int, repeats: int) -> list[dict]:
    rows = []
    for core_name in cores:
        for n in sizes:
            for T in lengths:
                model, params, batch = problem(core_name, n, T, B)
                base = None
                for name, method in methods(T).items():
                    row = {"core": core_name, "n": n, "T": T, "method": name}
                    row["skip"] = skip_reason(name, model, params, T, B)
                    if row["skip"] is None:
                        row["sec"], row["mem"] = measure(method, model, params, batch, repeats)
                        base = base or row
                        row["t_ratio"], row["m_ratio"] = row["sec"] / base["sec"], row["mem"] / max(base["mem"], 1)
                    rows.append(row)
                    print(format_row(row), flush=True)
    return rows


HEADER = "| core | n | T | method | ms / seq | time × bptt | temp KiB / seq | memory × bptt |"
RULE = "|---|---:|---:|---|---:|---:|---:|---:|"


def format_row(r: dict) -> str:
    if r["skip"]:
        return f"| {r['core']} | {r['n']} | {r['T']} | {r['method']} | {r['skip']} | | | |"
    return (
        f"| {r['core']} | {r['n']} | {r['T']} | {r['method']} | {1e3 * r['sec']:.3f} | "
        f"{r['t_ratio']:.2f} | {r['mem'] / 1024:.1f} | {r['m_ratio']:.2f} |"
    )


def scaling(rows: list[dict]) -> list[str]:
    """Log-log slope of memory vs T per (core, n, method): ~1 linear in T, ~0 independent."""
    lines = []
    keys = sorted({(r["core"], r["n"], r["method"]) for r in rows if not r["skip"]})
    for core, n, method in keys:
        pts = [(r["T"], r["mem"]) for r in rows if (r["core"], r["n"], r["method"]) == (core, n, method)
               and not r["skip"] and r["mem"] > 0]
        if len(pts) < 2:
            continue
        slope = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)[0]
        lines.append(f"| {core} | {n} | {method} | {slope:.2f} | {', '.join(str(p[0]) for p in pts)} |")
    return ["| core | n | method | memory ∝ T^slope | T values |", "|---|---:|---|---:|---|", *lines]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n ∈ {16, 32}, T ∈ {50, 200}")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cores", nargs="+", default=list(CORES), choices=list(CORES))
    ap.add_argument("--markdown", help="also write the tables to this markdown file")
    args = ap.parse_args()
    sizes, lengths = ((16, 32), (50, 200)) if args.quick else ((16, 32, 64, 128), (50, 200, 1000))
    print(HEADER, RULE, sep="\n")
    rows = run(args.cores, sizes, lengths, args.batch, 3 if args.quick else args.repeats)
    table = [HEADER, RULE, *map(format_row, rows)]
    scale = scaling(rows)
    print("\n".join(["", *scale]))
    if args.markdown:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        machine = f"{platform.machine()}, {os.cpu_count()} CPU cores, JAX {jax.__version__} ({jax.default_backend()})"
        head = [f"Measured {stamp} on {machine}; float32, batch {args.batch} (vmap), "
                f"{'quick' if args.quick else 'full'} grid.", ""]
        with open(args.markdown, "w") as fh:
            fh.write("\n".join([*head, *table, "", *scale, ""]))
    return 0


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing
    raise SystemExit(main())
