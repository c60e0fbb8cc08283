"""The layering the project depends on: a headless engine, and an app that starts without the ML stack."""

from __future__ import annotations

import json
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "olive", "onnxruntime", "onnxruntime_genai", "transformers", "azure", "pynvml")


def _loaded_after(code: str) -> set[str]:
    """Top-level package names in sys.modules after running `code` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _engine_modules() -> list[str]:
    return sorted(
        info.name
        for info in pkgutil.walk_packages(engine.__path__, prefix="engine.")
        if not info.name.endswith("__main__")
    )


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    result = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_engine_module_loads_textual() -> None:
    modules = _engine_modules()
    assert "engine.config" in modules
    code = "\n".join(f"import {name}" for name in modules)
    loaded = _loaded_after(code)
    assert "textual" not in loaded
    assert "tui" not in loaded


def test_app_starts_without_the_ml_stack() -> None:
    loaded = _loaded_after("import tui.app\nimport cli.launch")
    assert "textual" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_screens_import_nothing_heavy() -> None:
    code = "import tui.screens.home, tui.screens.dataset, tui.screens.steps, tui.screens.help"
    loaded = _loaded_after(code)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_no_test_imports_another_test_module() -> None:
    """What tests share lives in tests/helpers.py (and fixtures in conftest.py), never in a test module."""
    import ast

    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[-1].startswith("test_")]
    assert not found, found


def test_the_code_is_ruff_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed in this environment")
    proc = subprocess.run([str(ruff), "check", "--quiet", str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]


def test_no_import_cycles() -> None:
    """No module reaches back to one that imports it (deferred imports inside functions count too; imports
    made only for type checking do not)."""
    import grimp

    graph = grimp.build_graph("engine", "tui", "cli", exclude_type_checking_imports=True)
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.find_shortest_chain(importer=imported, imported=module):
                cycles.append(f"{module} <-> {imported}")
    assert not cycles, cycles


def test_the_code_is_mypy_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_no_product_file_is_over_about_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("engine", "cli", "tui")
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert not long, long


def test_no_file_switches_a_type_check_off() -> None:
    """Type checking is whole: no file-level `# mypy:` switches (an ignore names its code and reason)."""
    found = [
        str(p.relative_to(ROOT))
        for folder in ("engine", "cli", "tui")
        for p in (ROOT / folder).rglob("*.py")
        if "# mypy:" in p.read_text(encoding="utf-8")
    ]
    assert not found, found
