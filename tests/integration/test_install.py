"""`pip install .` into a fresh virtual environment gives a working package with its data files."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parents[2]

CHECK = """
import importlib.resources as r
import flask_qbo, flask_qbo.emulator
root = r.files("flask_qbo")
assert root.joinpath("py.typed").is_file()
assert root.joinpath("templates/qbo/_macros.html").is_file()
assert root.joinpath("static/qbo/htmx.min.js").is_file()
print("ok", flask_qbo.QBO.__name__)
"""


def test_pip_install_into_fresh_venv(tmp_path: pathlib.Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    # Run from a neutral directory so the source tree is not on sys.path.
    result = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok QBO"
    assert sys.executable != str(python)
