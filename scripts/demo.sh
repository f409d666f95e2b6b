#!/usr/bin/env bash
# The README's main job: make a fresh virtualenv, install plastix, train the flagship demo
# with default settings (progress bar; run directory with config, metrics and a plot).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
.venv/bin/plastix train cue-reward --preset quick "$@"
