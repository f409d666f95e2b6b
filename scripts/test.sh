#!/usr/bin/env bash
# The README's test command: make a fresh virtualenv, install plastix with its test extras, run the
# whole suite (both tiers; plain `pytest` runs only the fast one) and list the 25 slowest tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# -c: the exact versions of requirements/lock.txt (scripts/lock.sh), so results repeat bitwise
.venv/bin/python -m pip install --quiet -c requirements/lock.txt -e ".[test]"
# -m "" clears the fast-tier filter of pyproject.toml's addopts: both tiers run (fast, learning, slow)
.venv/bin/python -m pytest -n 2 -q -m "" --durations=25 tests "$@"
