"""The package builds into a wheel that carries its templates, static files and py.typed."""

from __future__ import annotations

import pathlib
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
