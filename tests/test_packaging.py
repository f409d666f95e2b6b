"""Packaging: pyproject.toml gives version ranges (an install into an existing environment does
not downgrade it), and requirements/lock.txt pins every package of every extra exactly (the
README's commands install with it, so results repeat). The install itself is checked by
scripts/check_install.sh (wheel and sdist in fresh virtualenvs, run by CI)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = ROOT / "requirements" / "lock.txt"


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: lower case, runs of - _ . as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req.strip()).group(0))


def version_part(req: str) -> str:
    """The version specifier of a requirement, without its name, extras and environment marker."""
    spec = req.split(";")[0]
    return re.sub(r"^[A-Za-z0-9._-]+(\[[^\]]*\])?", "", spec.strip())


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version.strip(), f"not an exact pin in the lock: {line!r}"
            pins[canonical(name)] = version.strip()
    return pins


def test_dependencies_are_ranges_not_exact_pins():
    requirements = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        requirements += extra
    pinned = [r for r in requirements if "==" in version_part(r)]
    assert not pinned, f"exact pins in pyproject.toml downgrade a user's environment: {pinned}"
    core = {requirement_name(r): version_part(r) for r in PYPROJECT["project"]["dependencies"]}
    assert core["jax"] == ">=0.10.2,<0.11" and core["numpy"] == ">=2.0"


def test_build_backend_reads_the_spdx_license():
    # setuptools < 77 rejects `license = "MIT"` (a PEP 639 SPDX string) in [project]
    requires = PYPROJECT["build-system"]["requires"]
    (setuptools,) = [r for r in requires if requirement_name(r) == "setuptools"]
    assert version_part(setuptools) == ">=77" and PYPROJECT["project"]["license"] == "MIT"


def test_lock_pins_every_dependency_of_every_extra():
    pins = locked()
    names = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        names |= {requirement_name(r) for r in extra}
    missing = sorted(names - set(pins))
    assert not missing, f"requirements/lock.txt lacks {missing}: run bash scripts/lock.sh"
    # what gymnax and flashbax pull in is pinned too
    assert {"flax", "orbax-checkpoint", "chex", "tensorstore", "jaxlib", "ml-dtypes"} <= set(pins)
    assert "plastix" not in pins  # the package itself is never locked (pip freeze --exclude-editable)


def test_lock_versions_lie_in_the_ranges():
    """Each locked version of a direct dependency satisfies pyproject's lower and upper bounds."""
    pins = locked()

    def key(version: str) -> tuple:
        return tuple(int(p) for p in re.findall(r"\d+", version)[:3])

    requirements = list(PYPROJECT["project"]["dependencies"])
    for extra in PYPROJECT["project"]["optional-dependencies"].values():
        requirements += extra
    for req in requirements:
        name, have = requirement_name(req), key(pins[requirement_name(req)])
        for op, bound in re.findall(r"(>=|<=|<|>|!=)\s*([0-9][0-9.]*)", version_part(req)):
            ok = {">=": have >= key(bound), "<": have < key(bound), "<=": have <= key(bound),
                  ">": have > key(bound), "!=": have != key(bound)}[op]
            assert ok, f"{name}=={pins[name]} is outside {req!r}"


def test_readme_commands_install_with_the_lock():
    for script in ("scripts/demo.sh", "scripts/test.sh"):
        text = (ROOT / script).read_text()
        assert "pip install --quiet -c requirements/lock.txt -e" in text, script
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("bash scripts/test.sh") < ci.index("bash scripts/check_install.sh")


def test_lowest_versions_are_the_lower_bounds():
    """requirements/lowest.txt (the oldest versions the tests were run with) sits at the lower
    bounds of pyproject.toml: each pin satisfies its range and shares major.minor with the bound."""
    lowest = {}
    for line in (ROOT / "requirements" / "lowest.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            lowest[canonical(name)] = version.strip()
    requirements = list(PYPROJECT["project"]["dependencies"]) + PYPROJECT["project"]["optional-dependencies"]["test"]
    bounds = {}
    for req in requirements:
        found = re.search(r">=\s*([0-9][0-9.]*)", version_part(req))
        if found:
            bounds[requirement_name(req)] = found.group(1)
    for name in {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}:
        assert name in lowest, f"{name}: its lower bound was not tested (add it to requirements/lowest.txt)"
    for name, version in lowest.items():
        assert name in bounds, f"{name} is in lowest.txt but has no lower bound in pyproject.toml"
        assert version.split(".")[:2] == (bounds[name].split(".") + ["0"])[:2], (name, version, bounds[name])
