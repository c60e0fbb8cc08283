"""The layering the project depends on: a headless engine, and an app that starts without the ML stack."""

from __future__ import annotations

import ast
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
OWN = ("engine", "tui", "cli")
# What an import of the project's own module inside a function may defer: a module that leads (through any of
# its imports, deferred ones included) to one of these.
ML_STACK = ("torch", "olive", "onnxruntime", "onnxruntime_genai", "transformers", "peft", "awq", "datasets", "azure")
# Imports of the project's own modules kept inside functions for another reason: (importer, imported) -> why.
DEFERRED_FOR_A_REASON: dict[tuple[str, str], str] = {}


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
    formatted = subprocess.run([str(ruff), "format", "--check", str(ROOT)], capture_output=True, text=True)
    assert formatted.returncode == 0, "run `ruff format .`:\n" + formatted.stdout[-3000:]


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
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
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


def test_only_the_supervisor_and_its_waiting_parent_write_a_runs_state() -> None:
    """The run folder has one writer: the app and the command line (and whatever they call) only read it, so a
    cancel, a sweep or a reader never races the supervisor's own writes."""
    import ast

    writers = {"engine/runs/state.py", "engine/runs/warden.py"}  # where it is defined; the waiting parent
    found = []
    for folder in ("engine", "cli", "tui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in writers or rel.startswith("engine/runs/supervisor"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and any(a.name == "write_state" for a in node.names):
                    found.append(f"{rel}:{node.lineno}")
    assert not found, found


def _imported(node: ast.Import | ast.ImportFrom, modules: set[str]) -> list[str]:
    """The modules an import statement names (`from package import module` names the module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not node.module or node.level:
        return []
    named = [f"{node.module}.{a.name}" for a in node.names]
    return [n for n in named if n in modules] or [node.module]


def _imports_inside_functions(modules: set[str]) -> list[tuple[str, int, str, str, bool]]:
    """(file, line, importer, imported, again) for each import of the project's own module made inside a
    function; `again`: the module is imported at the top of the same file too."""
    found = []
    for folder in OWN:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            importer = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            top = {m for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)) for m in _imported(n, modules)}
            pending: list[tuple[ast.AST, bool]] = [(tree, False)]
            while pending:
                node, inside = pending.pop()
                for child in ast.iter_child_nodes(node):
                    in_function = inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                    pending.append((child, in_function))
                    if not inside or not isinstance(child, (ast.Import, ast.ImportFrom)):
                        continue
                    where = str(path.relative_to(ROOT))
                    found += [(where, child.lineno, importer, t, t in top)
                              for t in _imported(child, modules) if t.split(".")[0] in OWN]  # fmt: skip
    return sorted(found)


def test_imports_inside_functions_have_a_reason() -> None:
    """An import of the project's own module sits at the top of the module unless the imported module leads to
    the ML stack or Azure's SDK (deferring it keeps the app and the command line starting without them), or it
    is listed in DEFERRED_FOR_A_REASON with its reason; never inside a function when the file imports that
    module at the top already."""
    import grimp

    graph = grimp.build_graph(*OWN, include_external_packages=True, exclude_type_checking_imports=True)
    modules = set(graph.modules)

    def leads_to_the_ml_stack(module: str) -> bool:
        return any(m.split(".")[0] in ML_STACK for m in graph.find_upstream_modules(module))

    found = _imports_inside_functions(modules)
    assert len(found) > 100  # the scan sees them (the ML stack's own imports are deferred this way)
    unjustified = [
        f"{where}:{line}: {imported}" + (" (imported at the top already)" if again else "")
        for where, line, importer, imported, again in found
        if again or (not leads_to_the_ml_stack(imported) and (importer, imported) not in DEFERRED_FOR_A_REASON)
    ]
    assert not unjustified, "move these to the top of their module:\n" + "\n".join(unjustified)
    listed = {(importer, imported) for _w, _l, importer, imported, _again in found}
    stale = [pair for pair in DEFERRED_FOR_A_REASON if pair not in listed or leads_to_the_ml_stack(pair[1])]
    assert not stale, stale
