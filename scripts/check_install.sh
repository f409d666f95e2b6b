#!/usr/bin/env bash
# The package as a user installs it, outside this checkout's .venv (CI runs it after
# scripts/test.sh; about two minutes with a warm pip cache):
#  (a) `python -m build` makes an sdist and, from it, a wheel; the wheel's requirements are ranges
#      (no `==`), and the wheel holds the package and the `plastix` command;
#  (b) a fresh virtualenv that already has a numpy other than the lock's (the newest release above
#      the lock's pin that jax accepts; when the registry has none newer, the newest release of
#      the minor series below the pin) gets the wheel: numpy must stay as it was (no downgrade,
#      no upgrade), `pip check` must pass, then `plastix list --json` and two tiny trainings
#      (`plastix train adding ...`, `plastix train cue-reward ...`) run there;
#  (c) the sdist installs in its place (built from source by pip) and `plastix list` runs.
# Needs the package registry. Exits non-zero at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOCK=requirements/lock.txt
start=$SECONDS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { echo "check_install [$((SECONDS - start)) s]: $*"; }
pipq() { "$@" --quiet --disable-pip-version-check 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

# ---------------------------------------------------------------- (a) build
if [ -x .venv/bin/python ] && .venv/bin/python -c "import build" 2>/dev/null; then
    builder=.venv/bin/python
else
    "$PY" -m venv "$work/build-venv"
    pipq "$work/build-venv/bin/python" -m pip install -c "$LOCK" build
    builder="$work/build-venv/bin/python"
fi
"$builder" -m build --outdir "$work/dist" . > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/plastix-*.whl)
sdist=$(ls "$work"/dist/plastix-*.tar.gz)
say "(a) built $(basename "$wheel") and $(basename "$sdist")"
"$PY" - "$wheel" <<'PYEOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
meta = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
entry = zipfile.ZipFile(sys.argv[1]).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
pinned = [r for r in requires if "==" in r.split(";")[0]]  # the version part, not the extra marker
assert not pinned, f"the wheel pins exact versions (a user's environment would be downgraded): {pinned}"
assert any(r.startswith("numpy") for r in requires), f"numpy is not among the wheel's requirements: {requires}"
assert "plastix/stats.py" in names and "plastix/cli/__init__.py" in names, "the wheel lacks the package"
assert "plastix = plastix.cli:main" in entry, f"no plastix command in the wheel: {entry!r}"
print(f"check_install: (a) wheel: {len(names)} files, {len(requires)} requirements, none pinned exactly")
PYEOF

# ---------------------------------------------------------------- (b) the wheel next to another numpy
locked=$(sed -n 's/^numpy==//p' "$LOCK")
[ -n "$locked" ] || { say "no numpy pin in $LOCK"; exit 1; }
"$PY" -m venv "$work/user"
user="$work/user/bin/python"
pipq "$user" -m pip install --upgrade pip
versions=$("$user" -m pip index versions numpy 2>/dev/null | sed -n 's/^Available versions: //p')
other=$("$PY" - "$locked" "$versions" <<'PYEOF'
import sys
locked = tuple(int(x) for x in sys.argv[1].split("."))
def parse(v):
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return None  # pre-releases and post-releases are skipped
found = [t for t in (parse(v.strip()) for v in sys.argv[2].split(",")) if t and len(t) == 3]
newer = [t for t in found if t > locked and t < (3,)]  # jax 0.10 asks numpy>=2.0; scipy <2.7 is left to pip
below = [t for t in found if t[:2] < locked[:2] and t >= (2, 0, 0)]
pick = max(newer) if newer else max(t for t in below if t[:2] == max(below)[:2])
print(("newer " if newer else "older ") + ".".join(map(str, pick)))
PYEOF
)
kind=${other%% *}
numpy_version=${other#* }
say "(b) lock pins numpy $locked; the registry's pick: $kind $numpy_version"
pipq "$user" -m pip install "numpy==$numpy_version"
pipq "$user" -m pip install "$wheel"
after=$("$user" -c "import numpy; print(numpy.__version__)")
if [ "$after" != "$numpy_version" ]; then
    say "FAIL: installing the wheel changed numpy $numpy_version -> $after"
    exit 1
fi
"$user" -m pip check
say "(b) numpy $after kept; jax $("$user" -c 'import jax; print(jax.__version__)'); pip check passed"
cd "$work"  # run the installed package, not the checkout's src/
"$work/user/bin/plastix" list --json | "$user" -c "
import json, sys
cat = json.load(sys.stdin)
names = [t['name'] for t in cat['tasks']]
assert 'adding' in names and 'cue-reward' in names and 'elman' in cat['cores'], names
print(f'check_install: (b) plastix list: {len(names)} tasks, {len(cat[\"cores\"])} cores')"
"$work/user/bin/plastix" train adding --core elman --hidden 4 --seq-len 5 --batch-size 4 --total-steps 32 \
    --log-every 16 --seeds 1 --quiet --no-plot --out "$work/runs/adding"
"$work/user/bin/plastix" train cue-reward --preset easy --env-opt episode_length=6 --hidden 4 --episodes 3 \
    --total-steps 72 --log-every 36 --seeds 1 --quiet --no-plot --out "$work/runs/cue"
for run in adding cue; do
    [ -s "$work/runs/$run/metrics.csv" ] || { say "FAIL: no metrics.csv in runs/$run"; exit 1; }
done
say "(b) two tiny trainings ran and wrote their run directories"
cd - > /dev/null

# ---------------------------------------------------------------- (c) the sdist
pipq "$user" -m pip uninstall --yes plastix
pipq "$user" -m pip install --no-deps "$sdist"  # built from source by pip; the dependencies are those of (b)
"$user" -m pip check
(cd "$work" && "$work/user/bin/plastix" list > "$work/list.txt")
grep -q "cue-reward" "$work/list.txt" || { say "FAIL: plastix list from the sdist install"; cat "$work/list.txt"; exit 1; }
say "(c) the sdist installed and plastix list ran"
say "ok in $((SECONDS - start)) s"
