#!/usr/bin/env bash
# Make requirements/lock.txt: the exact versions (==) of everything `pip install -e ".[EXTRAS]"`
# installs, every optional extra included, resolved in a fresh temporary virtualenv.
#
#   bash scripts/lock.sh             re-lock, keeping the versions already in the lock (new packages
#                                    are added at their newest fitting version)
#   bash scripts/lock.sh --upgrade   re-lock from nothing: the newest versions pyproject.toml allows
#
# pyproject.toml gives ranges; this file fixes one point inside them. scripts/demo.sh and
# scripts/test.sh install with `-c requirements/lock.txt`, so the README's commands run on the
# versions their numbers were measured with (the same seed gives the same numbers only with the
# same XLA build). Needs the package registry; takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/lock.txt
upgrade=0
[ "${1:-}" = "--upgrade" ] && upgrade=1

# every extra of [project.optional-dependencies], read from pyproject.toml
extras=$("$PY" - <<'PYEOF'
import tomllib
with open("pyproject.toml", "rb") as fh:
    print(",".join(tomllib.load(fh)["project"].get("optional-dependencies", {})))
PYEOF
)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m venv "$tmp/venv"
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet "$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
constraints=()
if [ "$upgrade" = 0 ] && [ -f "$LOCK" ]; then
    grep -v '^#' "$LOCK" > "$tmp/previous.txt"
    constraints=(-c "$tmp/previous.txt")
fi
quiet "$tmp/venv/bin/python" -m pip install --quiet "${constraints[@]}" -e ".[$extras]" || {
    echo "lock.sh: pip could not install; if pyproject.toml's ranges now exclude a version of the" \
         "lock, run: bash scripts/lock.sh --upgrade" >&2
    exit 1
}
"$tmp/venv/bin/python" -m pip check
{
    echo "# Exact versions of plastix's dependencies, every extra included: the set the README's"
    echo "# commands install (scripts/demo.sh and scripts/test.sh pass this file to pip as -c)."
    echo "# Made by scripts/lock.sh: a fresh virtualenv, then"
    echo "#   pip install -e \".[$extras]\""
    echo "#   pip freeze --exclude-editable"
    echo "# with $("$tmp/venv/bin/python" --version) on $(uname -m) Linux, pip $("$tmp/venv/bin/python" -m pip --version | cut -d' ' -f2)."
    echo "# Do not edit by hand: change the ranges in pyproject.toml and run bash scripts/lock.sh."
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable
} > "$tmp/lock.txt"
mv "$tmp/lock.txt" "$LOCK"
echo "wrote $LOCK ($(grep -vc '^#' "$LOCK") packages)"
