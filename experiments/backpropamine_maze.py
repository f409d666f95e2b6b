"""Backpropamine's maze experiment (Miconi et al., ICLR 2019, §4.2) rerun on plastix's meta-maze.

Variants, same A2C trainer and settings, ≥ 4 seeds each, seeds vmapped:

    rnn100       non-plastic Elman RNN, 100 units
    rnn139       non-plastic Elman RNN, 139 units: about the same number of parameters as the
                 100-unit plastic network (139² ≈ 100² + 100², the plastic one also learns a
                 plasticity coefficient α per connection), so a plastic network's advantage is
                 not just more parameters
    plastic      plastic RNN (100), non-modulated, η learned
    simple       neuromodulated RNN (100), simple modulation M(t)
    retroactive  neuromodulated RNN (100), retroactive modulation (eligibility trace)

Settings (Backpropamine's released maze code where known): A2C, Monte-Carlo returns, γ 0.9,
value coefficient 0.1, batch 30 episodes, Adam 1e-4, gradient-norm clip 4.0, hidden 100,
9 × 9 maze, 200 steps, +10 reward then teleport. The entropy coefficient defaults to 0.03
(the cue-reward value; --entropy to change). Published result: modulation beats
non-modulated plasticity, which beats the non-plastic networks.

    python experiments/backpropamine_maze.py --quick
    python experiments/backpropamine_maze.py --hidden 100 --updates 600 --time-budget 1200 --tag run1

Outputs as in backpropamine_cue_reward.py: experiments/results/maze_<tag>.{csv,json} and
docs/repro_maze_<tag>.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backpropamine_cue_reward import apply_quick, base_config, common_args, run_experiment  # noqa: E402

VARIANTS = {  # name -> (core, core options, hidden as a multiple of --hidden)
    "rnn100": ("elman", (), 1.0),
    "rnn139": ("elman", (), 1.39),
    "plastic": ("plastic-rnn", (), 1.0),
    "simple": ("neuromod-rnn", (("modulation", "simple"),), 1.0),
    "retroactive": ("neuromod-rnn", (("modulation", "retroactive"),), 1.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser, 100, VARIANTS)
    parser.add_argument("--entropy", type=float, default=0.03)
    opts = parser.parse_args()
    apply_quick(opts)
    base = base_config(opts, "meta-maze", clip=4.0, entropy=opts.entropy)
    variants = {k: (core, opt, int(round(scale * opts.hidden))) for k, (core, opt, scale) in VARIANTS.items()}
    run_experiment("maze", variants, base, opts, chance=None)


if __name__ == "__main__":
    main()
