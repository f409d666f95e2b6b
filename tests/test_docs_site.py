"""The documentation site builds: ``mkdocs build --strict`` (mkdocs.yml, Material, mkdocstrings).

Strict mode turns every warning into an error: a broken link or anchor between pages, a page
left out of the nav, a missing snippet, a docstring griffe cannot parse, a cross-reference
mkdocstrings cannot resolve. On top of the build, the API reference is held to the package:
every public module of plastix has its page (a new module without one fails here), and every
name ``import plastix`` gives and every algorithm's config class is documented in it; every
picture in docs/ is shown on a page; the Examples page carries the README's examples; no page
fetches anything from the web.
"""

from __future__ import annotations

import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # comes with mkdocs (the docs and test extras)

import plastix
from plastix.algorithms import ALGORITHMS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# top-level modules of plastix that are not library API, and why
NOT_API = {
    "cli": "the command line: documented by `plastix --help` and the Examples page",
    "exercises": "worked exercises, kept apart from the API (nothing in plastix imports them)",
}
# pictures in docs/ that no page shows, and why
UNSHOWN_PICTURES = {
    "repro_maze_easy-h32.png": "the earlier time-budgeted maze run, superseded by repro_maze_easy-h32-fixed.png",
}
HEADING = re.compile(r'<h\d id="(plastix[\w.]*)" class="doc doc-heading"')


def public_modules() -> set[str]:
    """The top-level modules and packages of plastix, without the private ones and ``NOT_API``."""
    names = {info.name for info in pkgutil.iter_modules(plastix.__path__)}
    return {f"plastix.{name}" for name in names - set(NOT_API) if not name.startswith("_")}


def api_pages() -> dict[str, list[str]]:
    """The nav's API reference section: {page path: the ``::: module`` directives in it}."""
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.SafeLoader)
    section = next(item["API reference"] for item in config["nav"]
                   if isinstance(item, dict) and "API reference" in item)
    paths = [entry if isinstance(entry, str) else next(iter(entry.values())) for entry in section]
    return {path: re.findall(r"^::: ([\w.]+)", (DOCS / path).read_text(), re.M) for path in paths}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about mkdocs 2, not ours
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr[-5000:]}"
    assert "WARNING" not in done.stderr, done.stderr[-5000:]
    return out


def documented(site: Path) -> set[str]:
    """Every object heading mkdocstrings rendered in the API pages (``plastix.cores.Elman``, ...)."""
    return {name for page in (site / "api").rglob("index.html") for name in HEADING.findall(page.read_text())}


def test_every_public_module_has_an_api_page():
    pages = api_pages()
    # one page per module, named after it: api/cores.md -> plastix.cores (first directive)
    by_module = {directives[0]: path for path, directives in pages.items() if path != "api/index.md"}
    for module, path in by_module.items():
        assert path == f"api/{module.removeprefix('plastix.')}.md", (module, path)
    assert set(by_module) == public_modules(), (
        f"pages without a module: {sorted(set(by_module) - public_modules())}; "
        f"modules without a page: {sorted(public_modules() - set(by_module))} (add docs/api/<name>.md and "
        "its nav entry in mkdocs.yml, or list the module in NOT_API with the reason)")
    # the public subpackages and the modules behind the root's names are among them
    assert {f"plastix.{name}" for name in plastix.SUBPACKAGES} <= set(by_module)
    assert set(plastix.NAMES.values()) <= set(by_module)


@pytest.mark.slow  # the build: ~5 s on a quiet core, 20 s on a busy one
def test_site_builds_strict_with_a_page_per_module(site: Path):
    headings = documented(site)
    for module in public_modules():
        page = site / "api" / module.removeprefix("plastix.") / "index.html"
        assert page.is_file(), page
        names = set(HEADING.findall(page.read_text()))
        assert module in names, f"{page}: no heading for {module}"
        assert any(name.startswith(module + ".") for name in names), f"{page}: no member of {module} rendered"
    assert len(headings) > 300  # the whole API, not module docstrings alone (measured: ~430)


@pytest.mark.slow  # the build: ~5 s on a quiet core, 20 s on a busy one
def test_root_names_and_configs_are_documented(site: Path):
    headings = documented(site)
    missing = [f"{module}.{name}" for name, module in plastix.NAMES.items() if f"{module}.{name}" not in headings]
    assert not missing, f"names of `import plastix` not in the API reference: {missing}"
    configs = {entry.config.split(":")[1] for entry in ALGORITHMS.values()}
    assert {"SupervisedConfig", "RLConfig", "DQNConfig", "GridConfig"} <= configs
    undocumented = [name for name in configs if not any(h.endswith("." + name) for h in headings)]
    assert not undocumented, f"config classes not in the API reference: {undocumented}"


@pytest.mark.slow  # the build: ~5 s on a quiet core, 20 s on a busy one
def test_pictures_are_shown(site: Path):
    pictures = {path.name for path in DOCS.glob("*.png")}
    assert set(UNSHOWN_PICTURES) <= pictures  # the exceptions still exist
    shown = {Path(src).name for page in site.rglob("*.html")
             for src in re.findall(r'<img[^>]* src="([^"]+\.png)"', page.read_text())}
    assert pictures - set(UNSHOWN_PICTURES) <= shown, f"pictures on no page: {sorted(pictures - shown)}"
    assert all((site / name).is_file() for name in shown)


@pytest.mark.slow  # the build: ~5 s on a quiet core, 20 s on a busy one
def test_examples_page_includes_the_readme_and_nothing_is_fetched(site: Path):
    """The Examples page is the README's examples (pymdownx.snippets sections marked in README.md),
    and no page loads web fonts or analytics: the site is built and read offline."""
    import html

    text = html.unescape(re.sub(r"<[^>]+>", "", (site / "examples" / "index.html").read_text()))
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```(?:python|bash)\n(.*?)^```", readme.split("## Command line")[1].split("## Docs")[0],
                        re.S | re.M)
    assert len(blocks) >= 3
    for block in blocks:
        for line in block.strip().splitlines():
            assert line.strip() in text, f"README line not on the Examples page: {line!r}"
    for page in site.rglob("*.html"):
        assert not re.search(r"fonts\.(googleapis|gstatic)\.com|googletagmanager|google-analytics", page.read_text()), page
