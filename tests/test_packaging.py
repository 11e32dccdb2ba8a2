"""The package builds into a wheel that carries its templates, static files and py.typed.

It builds without a setuptools warning, and every ``install_requires`` entry is
imported by the package (a dependency nobody imports belongs in an extra).
"""

from __future__ import annotations

import ast
import configparser
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_wheel_contains_templates_and_static(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("flask_qbo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "flask_qbo/py.typed" in names
    assert "flask_qbo/__init__.py" in names
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "flask_qbo").rglob("*") if p.is_file()}
    for path in shipped:
        if path.endswith((".html", ".css", ".js", ".svg")):
            assert path in names, f"{path} is missing from the wheel"
    assert any(n.startswith("flask_qbo/templates/qbo/") for n in names)
    assert not any(n.startswith(("tests/", "demo_app/", "benchmarks/")) for n in names)


def test_install_requires_have_lower_bounds_only() -> None:
    text = (ROOT / "setup.cfg").read_text()
    block = text.split("install_requires =", 1)[1].split("\n\n", 1)[0]
    reqs = [line.strip() for line in block.splitlines() if line.strip()]
    assert {r.split(">=")[0].lower() for r in reqs} >= {
        "flask",
        "flask-sqlalchemy",
        "flask-login",
        "authlib",
        "requests",
        "flask-htmx",
        "cryptography",
    }
    assert all(">=" in r and "<" not in r and "==" not in r for r in reqs)
    assert (ROOT / "pyproject.toml").read_text().strip().startswith("[build-system]")


#: Import name of each distribution in ``install_requires``.
IMPORT_NAMES = {
    "flask": "flask",
    "flask-sqlalchemy": "flask_sqlalchemy",
    "joserfc": "joserfc",
    "flask-login": "flask_login",
    "authlib": "authlib",
    "requests": "requests",
    "flask-htmx": "flask_htmx",
    "cryptography": "cryptography",
    "blinker": "blinker",
    "orjson": "orjson",
}


def _install_requires() -> list[str]:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].split("\n")
    return [re.split(r"[<>=!~\[ ;]", line.strip(), maxsplit=1)[0].lower() for line in lines if line.strip()]


def _runtime_imports() -> set[str]:
    """Top-level names the package imports at run time (``TYPE_CHECKING`` blocks do not count)."""
    names: set[str] = set()
    for path in (ROOT / "flask_qbo").rglob("*.py"):
        tree = ast.parse(path.read_text())
        skipped = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for child in block.body
            for node in ast.walk(child)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_install_requires_entry_is_used() -> None:
    requires = _install_requires()
    assert set(requires) <= set(IMPORT_NAMES), f"add the import name of {set(requires) - set(IMPORT_NAMES)}"
    unused = [name for name in requires if IMPORT_NAMES[name] not in _runtime_imports()]
    assert not unused, f"install_requires entries the package never imports: {unused}"


def test_build_prints_no_setuptools_warning(tmp_path: pathlib.Path) -> None:
    """A clean checkout (no ``__pycache__``, no build leftovers) builds without any warning."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "flask_qbo", source / "flask_qbo", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "w"), "."],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
    )
    output = result.stdout + result.stderr
    assert "is absent from the `packages` configuration" not in output
    assert not re.search(r"warning", output, re.IGNORECASE), output
