"""The package layering (docs/architecture.md, "Package layering"): the import-linter contracts of
pyproject.toml hold, and they can fail: a contract the code breaks, written into a copy of the
configuration, makes ``lint-imports`` fail naming the import, including one made inside a
function."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _config() -> dict:
    return _pyproject()["tool"]["importlinter"]


def _lint(config: Path | None = None) -> subprocess.CompletedProcess:
    args = [str(LINT_IMPORTS), "--no-cache", "--no-logo", *([str(config)] if config else [])]
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _write(config: dict, path: Path) -> Path:
    """``config`` as a pyproject-style TOML file (values are strings, lists and booleans, which
    JSON writes as TOML reads them)."""
    session = {k: v for k, v in config.items() if k != "contracts"}
    lines = ["[tool.importlinter]", *(f"{k} = {json.dumps(v)}" for k, v in session.items())]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{k} = {json.dumps(v)}" for k, v in contract.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _layers(config: dict) -> list[str]:
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return contract["layers"]


def test_the_import_contracts_hold():
    done = _lint()
    assert done.returncode == 0, done.stdout + done.stderr
    contracts = len(_config()["contracts"])
    assert f"Contracts: {contracts} kept, 0 broken." in done.stdout, done.stdout


def test_every_package_has_a_layer_and_is_checked_for_cycles():
    config = _config()
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    wheel = set(_pyproject()["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert wheel <= packages, "the wheel lists a package that does not exist"
    assert set(config["root_packages"]) == packages
    layered = {p.strip() for layer in _layers(config) for p in layer.replace("|", ":").split(":")}
    assert layered == packages
    (acyclic,) = [c for c in config["contracts"] if c["type"] == "acyclic_siblings"]
    assert set(acyclic["ancestors"]) == packages
    assert _layers(config)[-1] == "platform_core", "platform_core is the bottom layer"


def test_the_bottom_layer_declared_on_top_fails_naming_the_imports(tmp_path):
    config = _config()
    for contract in config["contracts"]:
        if contract["type"] == "layers":
            contract["layers"] = ["platform_core"] + [
                layer for layer in contract["layers"] if layer != "platform_core"
            ]
    done = _lint(_write(config, tmp_path / "upside_down.toml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout
    for package in ("orchestration", "quality", "ml"):
        assert f"{package} is not allowed to import platform_core" in done.stdout, done.stdout


def _function_level_only() -> tuple[str, str, str, int]:
    """A package that imports another only inside functions: (importer package, imported
    package, importing module, line)."""
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    module_level: set[tuple[str, str]] = set()
    in_functions: dict[tuple[str, str], tuple[str, int]] = {}
    for package in sorted(packages):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text())
            inside = {
                id(node)
                for fn in ast.walk(tree)
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                for node in ast.walk(fn)
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                for name in names:
                    other = name.split(".")[0]
                    if other == package or other not in packages:
                        continue
                    if id(node) in inside:
                        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                        in_functions.setdefault((package, other), (module, node.lineno))
                    else:
                        module_level.add((package, other))
    # the shipped packages first: benchmarks only if no other will do
    pairs = sorted(set(in_functions) - module_level, key=lambda p: (p[0] == "benchmarks", p))
    assert pairs, "no package imports another only inside functions: nothing to probe"
    importer, imported = pairs[0]
    return importer, imported, *in_functions[importer, imported]


def test_an_import_made_inside_a_function_breaks_a_contract(tmp_path):
    importer, imported, module, line = _function_level_only()
    config = _config()
    config["contracts"].append(
        {
            "id": "probe",
            "name": f"{importer} must not import {imported}",
            "type": "forbidden",
            "source_modules": [importer],
            "forbidden_modules": [imported],
        }
    )
    done = _lint(_write(config, tmp_path / "probe.toml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{importer} must not import {imported} BROKEN" in done.stdout, done.stdout
    named = [row for row in done.stdout.splitlines() if f"{module} -> {imported}" in row]
    assert any(f"l.{line}" in row for row in named), done.stdout
