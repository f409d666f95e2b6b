#!/usr/bin/env bash
# The README's main job: make a fresh virtualenv, install plastix, then train a neuromodulated
# plastic agent and a non-plastic one of equal size side by side on cue-reward with new cues every
# episode (`plastix demo`: progress, two run directories, a comparison plot and a summary line).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# -c: the exact versions of requirements/lock.txt (scripts/lock.sh), so results repeat bitwise
.venv/bin/python -m pip install --quiet -c requirements/lock.txt -e .
.venv/bin/plastix demo "$@"
