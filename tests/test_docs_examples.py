"""The code in the documentation runs: every ```python block of README.md and docs/*.md.

Conventions for writers of the docs (checked here):

- A ```python block is a program a reader can paste into a fresh ``python``: it runs on its own,
  with default JAX settings (not the test suite's float64 and rank checks), in a namespace of
  its own and an empty temporary working directory (so ``runs/...`` paths land there), and
  must not raise. The fast blocks share one interpreter (a subprocess), to import JAX once.
- A block that must not run — a fragment that uses names defined elsewhere (``model``,
  ``key``), a signature listing, or a long training — is preceded by the HTML comment
  ``<!-- no-run -->`` on the line just before its opening fence (invisible in the rendered
  page). Of such a block only the ``import`` / ``from ... import`` statements are executed, so a
  renamed or removed name still fails here; the block must also parse as Python, except when it
  is a listing (``<!-- no-run: not python -->``).
- A block that runs but takes more than a few seconds is preceded by ``<!-- slow -->``: the fast
  tier executes its imports, the slow tier (``pytest -m slow``; the README's test command runs
  both tiers) the whole block, in an interpreter of its own.
- In ```bash blocks, every line that calls ``plastix COMMAND`` must name an existing command
  (``plastix.cli.COMMANDS``); the cheap commands in ``CHEAP_COMMANDS`` are also run and must
  exit with status 0.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "docs").glob("*/*.md"))]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
MARK = re.compile(r"<!--\s*(no-run(?::\s*not python)?|slow)\b[^>]*-->\s*$")
# bash lines of the docs that are cheap enough to run (a second or two each)
CHEAP_COMMANDS = ("plastix list", "plastix solve lecture-grid --gamma 0.9 --json")
TIMEOUT = 300


class Block(NamedTuple):
    page: Path
    line: int        # 1-based line of the opening fence
    lang: str
    code: str
    mark: str        # "", "no-run", "no-run: not python" or "slow"

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def code_blocks(page: Path) -> list[Block]:
    """The fenced blocks of one Markdown page, with the marker comment on the line above each."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        above = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found = MARK.search(above)
        blocks.append(Block(page, line, match.group(1), match.group(2), found.group(1) if found else ""))
    return blocks


BLOCKS = [block for page in PAGES for block in code_blocks(page)]
PYTHON = [block for block in BLOCKS if block.lang == "python"]

# Run in a fresh interpreter: one program per item, each in its own namespace and its own empty
# working directory; prints nothing but writes {name: error text or ""} (and the captured stdout)
# to the JSON file argv[1]. Several blocks share the interpreter only to pay JAX's import once.
RUNNER = r"""
import contextlib, io, json, os, sys, tempfile, time, traceback
items, results = json.loads(sys.stdin.read()), {}
for name, code in items:
    out, start = io.StringIO(), time.perf_counter()
    with tempfile.TemporaryDirectory() as cwd:
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, name, "exec"), {"__name__": "__main__"})
            error = ""
        except BaseException:
            error = traceback.format_exc()
        os.chdir("/")
    results[name] = {"error": error, "stdout": out.getvalue(), "seconds": time.perf_counter() - start}
with open(sys.argv[1], "w") as f:
    json.dump(results, f)
"""


def run_programs(items: list[tuple[str, str]], tmp: Path) -> dict[str, dict]:
    """Run (name, code) programs in one fresh interpreter (default JAX settings, Agg backend)."""
    import json

    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT / "src")}
    out = tmp / "results.json"
    done = subprocess.run([sys.executable, "-c", RUNNER, str(out)], input=json.dumps(items), env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0 and out.exists(), f"the runner failed:\n{done.stderr[-3000:]}"
    return json.loads(out.read_text())


def program(block: Block) -> str:
    """What the fast tier runs of a block: all of it, or only its imports (no-run and slow blocks;
    the slow ones run whole in the slow tier), or nothing (a listing, or not Python at all)."""
    if block.mark == "no-run: not python":
        return ""
    try:
        tree = ast.parse(block.code)
    except SyntaxError:  # reported by test_python_block
        return ""
    if block.mark in ("no-run", "slow"):
        return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))
    return block.code


def plastix_lines() -> list[tuple[Block, list[str]]]:
    """Every ``plastix ...`` command line of the shell blocks, split like a shell (comments dropped,
    backslash continuations joined)."""
    found = []
    for block in BLOCKS:
        if block.lang not in ("bash", "sh", "shell", "console"):
            continue
        for line in block.code.replace("\\\n", " ").splitlines():
            try:
                words = shlex.split(line.strip().removeprefix("$ "), comments=True)
            except ValueError:  # shell syntax shlex does not follow (not a plastix line of ours)
                continue
            if words[:1] == ["plastix"]:
                found.append((block, words))
    return found


def cheap_program(command: str) -> str:
    return f"from plastix.cli import main\nrc = main({shlex.split(command)[1:]!r})\nassert rc == 0, rc"


@pytest.fixture(scope="module")
def fast_results(tmp_path_factory) -> dict[str, dict]:
    """Every fast item (``program`` of each python block, the cheap commands) run in one interpreter."""
    items = [(block.name, program(block)) for block in PYTHON]
    items += [(command, cheap_program(command)) for command in CHEAP_COMMANDS]
    return run_programs(items, tmp_path_factory.mktemp("docs-examples"))


def test_the_docs_have_code_to_check():
    """The extraction finds blocks and markers (a broken pattern would make the other tests vacuous)."""
    assert len(PYTHON) >= 10
    marks = [block.mark for block in PYTHON]
    assert marks.count("") >= 2 and marks.count("slow") >= 1 and marks.count("no-run") >= 3
    readme = [block for block in PYTHON if block.page.name == "README.md"]
    assert len(readme) >= 2 and all(not block.mark.startswith("no-run") for block in readme)


@pytest.mark.slow
@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.name)
def test_python_block(block: Block, fast_results):
    if block.mark != "no-run: not python":
        try:
            ast.parse(block.code)
        except SyntaxError as err:
            pytest.fail(f"{block.name}: not valid Python ({err}); mark a listing <!-- no-run: not python -->")
    error = fast_results[block.name]["error"]
    what = "its imports" if block.mark in ("no-run", "slow") else "the block"
    assert not error, f"{block.name} ({block.mark or 'runs'}): {what} failed:\n{error[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("block", [block for block in PYTHON if block.mark == "slow"], ids=lambda b: b.name)
def test_slow_python_block(block: Block, tmp_path: Path):
    error = run_programs([(block.name, block.code)], tmp_path)[block.name]["error"]
    assert not error, f"{block.name} failed:\n{error[-3000:]}"


def test_bash_blocks_name_existing_commands():
    from plastix.cli import COMMANDS

    lines = plastix_lines()
    assert len(lines) >= 20  # the README's command list alone has more
    stale = [f"{block.name}: {' '.join(words)}" for block, words in lines
             if len(words) < 2 or words[1] not in COMMANDS]
    assert not stale, "plastix lines naming no command:\n" + "\n".join(stale)


@pytest.mark.parametrize("command", CHEAP_COMMANDS)
def test_cheap_bash_commands_run(command: str, fast_results):
    assert any(words == shlex.split(command) for _, words in plastix_lines()), f"{command!r} is no longer in the docs"
    result = fast_results[command]
    assert not result["error"], result["error"][-3000:]
    if "--json" in command:
        import json

        json.loads(result["stdout"])  # the --json output is JSON and nothing else


@pytest.mark.slow  # one tyro parse per line: ~1 s each on a busy core
def test_bash_command_lines_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every ``plastix`` line's flags parse (the command's own parser, nothing is run): a renamed or
    removed flag, task or preset in the docs fails here. Lines with shell expansions, ``--resume``
    (it reads the run directory) or ``--help`` (it prints and exits) are left out."""
    import contextlib
    import io

    import tyro

    from plastix.cli import load_command
    from plastix.errors import PlastixError

    monkeypatch.chdir(tmp_path)
    checked, failed = 0, []
    for block, words in plastix_lines():
        if any("$" in word for word in words) or {"--resume", "--help", "-h"} & set(words):
            continue
        command = load_command(words[1])
        parse = getattr(command, "parse", None)
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                parse(words[2:], "plastix") if parse else tyro.cli(command, args=words[2:], prog="plastix")
        except SystemExit as exit_:
            failed.append(f"{block.name}: {' '.join(words)} (exit {exit_.code}): {err.getvalue()[-500:]}")
        except PlastixError as error:
            failed.append(f"{block.name}: {' '.join(words)}: {error}")
        checked += 1
    assert checked >= 25
    assert not failed, "\n".join(failed)
    assert not any(tmp_path.iterdir())  # parsing wrote nothing
