"""The shape of the package that import-linter does not check (docs/architecture.rst).

import-linter enforces the layer order and the absence of cycles; these tests
hold the rest of the layout rule: a short top level, small modules, a docstring
on every module, and no function-level import of the package's own modules
except where an optional extra is the reason.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "flask_qbo"

#: Function-level imports of the package's own modules that an optional extra justifies:
#: (module path, imported module) -> the extra.
OPTIONAL_EXTRA_IMPORTS = {
    ("runners/thread.py", "celery"): "celery",
    ("extension.py", "ops.metrics"): "metrics",
    ("views/metrics.py", "ops.metrics"): "metrics",
}


def modules() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_top_level_holds_at_most_ten_modules() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_no_module_is_over_450_lines() -> None:
    long = {str(p.relative_to(PACKAGE)): n for p in modules() if (n := len(p.read_text().splitlines())) > 450}
    assert long == {}


def test_every_module_says_what_it_owns() -> None:
    missing = [str(p.relative_to(PACKAGE)) for p in modules() if not ast.get_docstring(ast.parse(p.read_text()))]
    assert missing == []


def _own_imports_inside_functions(path: pathlib.Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (inner.level > 0 or (inner.module or "").startswith("flask_qbo")):
                found.append(inner.module or ".")
            elif isinstance(inner, ast.Import):
                found.extend(alias.name for alias in inner.names if alias.name.startswith("flask_qbo"))
    return found


def test_own_modules_are_imported_at_module_level() -> None:
    offending = [
        (str(path.relative_to(PACKAGE)), name)
        for path in modules()
        for name in _own_imports_inside_functions(path)
        if (str(path.relative_to(PACKAGE)), name) not in OPTIONAL_EXTRA_IMPORTS
    ]
    assert offending == []
