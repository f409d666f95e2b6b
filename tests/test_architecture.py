"""The layering of docs/architecture.md, checked on the source: every module under src/plastix is
parsed with ``ast`` (nothing is imported), given its layer, and may import only from its own
layer or the ones below. The table here and the one in docs/architecture.md must agree.

Also: ``import plastix`` loads no trainer (the public API is lazy), and the sources and docs
cite the literature and the project's own docs only (no planning-document references).
"""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "plastix"

# (layer name, module prefixes), lowest first. A module belongs to the layer of its longest
# matching prefix ("plastix.rl.plots" is in the driver layer, the rest of "plastix.rl" is not);
# "plastix" alone is the package root, the public API (plastix.run, plastix.load, ...).
LAYERS = [
    ("foundation", ["plastix.errors", "plastix.stats", "plastix.parallel", "plastix.options", "plastix.xla"]),
    ("cores", ["plastix.cores"]),
    ("grads", ["plastix.grads"]),
    ("tasks and environments", ["plastix.tasks", "plastix.envs"]),
    ("algorithms", ["plastix.rl", "plastix.ppo", "plastix.dqn", "plastix.mdp", "plastix.train", "plastix.exercises",
                    "plastix.hopfield", "plastix.imitation", "plastix.seq2seq", "plastix.ctc", "plastix.lm"]),
    ("driver", ["plastix", "plastix.driver", "plastix.algorithms", "plastix.runs", "plastix.checkpoint", "plastix.tb",
                "plastix.loggers", "plastix.plot", "plastix.sweep", "plastix.distributed", "plastix.memory", "plastix.rl.plots", "plastix.mdp.plots",
                "plastix.hopfield.plots", "plastix.seq2seq.plots"]),
    ("cli", ["plastix.cli"]),
]
LEVEL = {prefix: i for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}

# what `import plastix` must not load: the trainers and the command line
TRAINER_MODULES = ["plastix.rl.trainer", "plastix.ppo", "plastix.dqn", "plastix.mdp", "plastix.train", "plastix.cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """Level of the longest table prefix that is ``module`` or a package containing it (the
    root "plastix" is only itself: a new top-level module must be placed in the table)."""
    if module == "plastix":
        return LEVEL[module]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in LEVEL:
            return LEVEL[prefix]
    return None


def imported_modules(module: str, path: Path) -> list[tuple[str, int]]:
    """(plastix module, line) for every import statement of the file, at any depth (inside
    functions too: a lazy import is still a dependency). ``from plastix.x import y`` names
    plastix.x.y when that is a module of the package, else plastix.x."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: strip level - 1 trailing parts of the current package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append((sub if sub in MODULES else source, node.lineno))
    plastix = [(name, line) for name, line in found if name == "plastix" or name.startswith("plastix.")]
    return list(dict.fromkeys(plastix))  # `from m import a, b` once


def upward_imports() -> list[str]:
    bad = []
    for module, path in MODULES.items():
        own = layer_of(module)
        for target, line in imported_modules(module, path):
            theirs = layer_of(target)
            if theirs is not None and own is not None and theirs > own:
                bad.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[theirs][0]}), "
                           f"{path.relative_to(ROOT)}:{line}")
    return bad


def test_the_scan_finds_the_package_and_resolves_imports():
    """The parser itself, on modules whose imports are known: without this a scan that found
    nothing would pass every test below."""
    assert {"plastix", "plastix.errors", "plastix.cores", "plastix.cli"} <= set(MODULES)
    assert len(MODULES) > 50
    assert layer_of("plastix.cores.elman") == LEVEL["plastix.cores"]
    assert layer_of("plastix.rl.plots") == LEVEL["plastix.driver"] > layer_of("plastix.rl.returns")
    assert layer_of("plastix") == LEVEL["plastix.driver"] and layer_of("jax") is None
    assert layer_of("plastix.unplaced") is None and layer_of("plastix.cores_extra") is None
    targets = {name for name, _ in imported_modules("plastix.cores.elman", MODULES["plastix.cores.elman"])}
    assert {"plastix.cores.base", "plastix.errors"} <= targets


def test_every_module_has_a_layer():
    """A new module or package must be placed in the table (and in docs/architecture.md)."""
    unplaced = sorted(m for m in MODULES if layer_of(m) is None)
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"


def test_no_module_imports_from_a_higher_layer():
    """cores -> grads -> tasks/envs -> algorithms -> driver -> cli: imports point down (or stay
    within a layer), never up."""
    bad = upward_imports()
    assert not bad, "imports from a higher layer:\n" + "\n".join(bad)


def test_nothing_outside_the_cli_imports_the_cli():
    """The CLI parses flags and prints; it holds no logic anything else could need."""
    bad = [f"{module} imports {target} ({MODULES[module].relative_to(ROOT)}:{line})"
           for module, path in MODULES.items() if not module.startswith("plastix.cli")
           for target, line in imported_modules(module, path)
           if target == "plastix.cli" or target.startswith("plastix.cli.")]
    assert not bad, "imports of plastix.cli from outside it:\n" + "\n".join(bad)


def docs_layers() -> list[tuple[str, list[str]]]:
    """Rows of the layer table of docs/architecture.md: | n | layer | `module`, `module` |."""
    rows = []
    for line in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 3 and cells[0].isdigit():
            rows.append((cells[1], re.findall(r"`(plastix[\w.]*)`", cells[2])))
    return rows


def test_the_table_is_the_one_in_docs_architecture():
    docs = docs_layers()
    assert [name for name, _ in docs] == [name for name, _ in LAYERS]
    for (name, in_docs), (_, here) in zip(docs, LAYERS, strict=True):
        assert sorted(in_docs) == sorted(here), name


def test_import_plastix_loads_no_trainer():
    """``import plastix`` is cheap: the trainers and the CLI load on first use."""
    code = "import plastix, sys; print(sorted(m for m in sys.modules if m.startswith('plastix')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert "plastix" in loaded  # the listing itself works
    heavy = [m for m in loaded for t in TRAINER_MODULES if m == t or m.startswith(t + ".")]
    assert not heavy, f"import plastix loaded {heavy}"


# planning-document references that belong in no source file or doc (the pattern of
# `grep -rniE "seed 00[0-9]|SPEC §|issue [0-9]" src docs README.md`)
REFERENCE = re.compile(r"seed 00[0-9]|SPEC §|issue [0-9]", re.IGNORECASE)
GENERATED = ("__pycache__", ".egg-info")  # build products, not sources (src/plastix.egg-info copies the README)


def text_files():
    for top in (SRC, ROOT / "docs"):
        for path in sorted(top.rglob("*")):
            if path.is_file() and not any(part.endswith(GENERATED) for part in path.relative_to(ROOT).parts):
                yield path
    yield ROOT / "README.md"


def test_sources_and_docs_cite_no_planning_documents():
    assert REFERENCE.search("see Issue 5") and REFERENCE.search("(SEED 003)") and not REFERENCE.search("issue #")
    hits = []
    for path in text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # pictures
            continue
        hits += [f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
                 for n, line in enumerate(text.splitlines(), 1) if REFERENCE.search(line)]
    assert not hits, "\n".join(hits)


@pytest.mark.parametrize("prefix", TRAINER_MODULES)
def test_trainer_modules_exist(prefix):
    """The lazy-import test names real modules (a renamed one would make it pass vacuously)."""
    assert prefix in MODULES
