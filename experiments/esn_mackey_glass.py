"""Echo state network on Mackey–Glass (τ = 17), after Jaeger & Haas 2004 (Science 304:78).

Setting (see docs/esn.md for what differs from the paper):
  * series: MG τ = 17 by RK4 (dt = 0.1, one sample per time unit), first 1000 samples dropped,
    squashed y = tanh(x − 1) as Jaeger did;
  * reservoir: n = 1000 tanh units, 1 % density, spectral radius 0.95 (JH04: 0.8), no leak, a constant input
    u = 0.02 with W_in ~ U(−1, 1), output feedback W_fb ~ U(−1, 1);
  * training: teacher forcing on 3000 steps, the first 1000 discarded (washout), optional state
    noise ν ~ U(−noise, noise) (``--noise``, default 0: the ridge λ regularises instead),
    ridge readout y_t = V x_t + c;
  * test: after training the reservoir keeps being teacher-forced along the true series; from
    ``--trials`` start points spaced ``--gap`` apart it runs free 84 steps; NRMSE_84 is
    sqrt(mean over trials and seeds of (ŷ_84 − y_84)²) / σ_y (Jaeger & Haas's definition), and
    the one-step NRMSE is the readout on teacher-forced states over the test stretch.

Run:  python experiments/esn_mackey_glass.py [--units 1000 --seeds 4 ...]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

from plastix.cores.esn import ESN, ESNCarry, esn_predict, fit_ridge_readout, generate, teacher_force  # noqa: E402
from plastix.tasks.mackey_glass import jaeger_squash, mackey_glass, nrmse  # noqa: E402

HORIZON = 84
BIAS_INPUT = 0.02


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--units", type=int, default=1000, help="reservoir size n (JH04: 1000)")
    p.add_argument("--density", type=float, default=0.01, help="fraction of nonzero W entries (JH04: 0.01)")
    p.add_argument("--radius", type=float, default=0.95, help="spectral radius of W (JH04: 0.8; see docs/esn.md)")
    p.add_argument("--train", type=int, default=3000, help="teacher-forced training steps (JH04: 3000)")
    p.add_argument("--washout", type=int, default=1000, help="initial steps not used to fit (JH04: 1000)")
    p.add_argument("--noise", type=float, default=0.0, help="state noise amplitude while teacher forcing")
    p.add_argument("--ridge", type=float, default=1e-11, help="ridge λ (sum over steps)")
    p.add_argument("--trials", type=int, default=25, help="free-run start points per seed")
    p.add_argument("--gap", type=int, default=40, help="steps between start points")
    p.add_argument("--seeds", type=int, default=4, help="independent reservoirs (vmapped)")
    p.add_argument("--first-seed", type=int, default=0, help="PRNG seed of the first reservoir")
    p.add_argument("--discard", type=int, default=1000, help="MG samples dropped before training")
    p.add_argument("--scheme", default="rk4", choices=["rk4", "euler"], help="MG integrator")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p.parse_args()


def run_seed(core: ESN, args, ys: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
    """Train one reservoir on ys[:train] and test it on the rest; ys (T, 1)."""
    k_init, k_noise = jax.random.split(key)
    params = core.init(k_init)
    us = jnp.full((ys.shape[0], 1), BIAS_INPUT, ys.dtype)
    tr = args.train
    carry, states_tr = teacher_force(core, params, us[:tr], ys[:tr], noise=args.noise, key=k_noise)
    readout = fit_ridge_readout(states_tr, ys[:tr], ridge=args.ridge, washout=args.washout)
    # Keep teacher forcing (noiseless) along the true series: test carries, one-step predictions.
    _, states_te = teacher_force(core, params, us[tr:], ys[tr:], carry0=carry)
    states = jnp.concatenate([states_tr, states_te])
    one_step = esn_predict(readout, states_te)
    starts = tr + args.gap * jnp.arange(args.trials)  # free run predicts ys[s + 1 .. s + 84]

    def free_run(s):
        carry = ESNCarry(states[s], ys[s])  # state x_s after teacher forcing up to y_s
        _, pred = generate(core, params, readout, carry, ys[s], HORIZON, us[:HORIZON])
        return pred[:, 0] - jax.lax.dynamic_slice(ys[:, 0], (s + 1,), (HORIZON,))

    errors = jax.vmap(free_run)(starts)  # (trials, 84)
    return {"one_step_sq": jnp.mean((one_step - ys[tr:]) ** 2), "err": errors}


def main() -> int:
    args = parse_args()
    t0 = time.perf_counter()
    length = args.train + args.gap * args.trials + HORIZON + 1
    x = mackey_glass(length, discard=args.discard, scheme=args.scheme)
    ys = jaeger_squash(x)[:, None]
    core = ESN(
        input_size=1, hidden_size=args.units, dtype="float64", spectral_radius=args.radius, density=args.density,
        input_scale=1.0, feedback_size=1, feedback_scale=1.0, radius_solver="arnoldi",
    )
    keys = jax.random.split(jax.random.PRNGKey(args.first_seed), args.seeds)
    out = jax.jit(jax.vmap(lambda k: run_seed(core, args, ys, k)))(keys)
    var = jnp.var(ys)
    err84 = out["err"][:, :, HORIZON - 1]
    result = {
        "units": args.units, "seeds": args.seeds, "trials_per_seed": args.trials, "scheme": args.scheme,
        "nrmse84": float(jnp.sqrt(jnp.mean(err84**2) / var)),
        "log10_nrmse84": float(jnp.log10(jnp.sqrt(jnp.mean(err84**2) / var))),
        "nrmse84_per_seed": [float(v) for v in jnp.sqrt(jnp.mean(err84**2, axis=1) / var)],
        "one_step_nrmse": float(jnp.sqrt(jnp.mean(out["one_step_sq"]) / var)),
        "naive_one_step_nrmse": float(nrmse(ys[args.train : -1, 0], ys[args.train + 1 :, 0], var)),
        "seconds": time.perf_counter() - t0,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
