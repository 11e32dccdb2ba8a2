"""Sphinx configuration for the Flask-QBO docs (built with -W in CI)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "Flask-QBO"
author = "The Flask-QBO team"
copyright = "2026, the Flask-QBO team"
release = "0.1.0"

sys.path.insert(0, os.path.abspath("_ext"))

extensions = [
    "qbo_config",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
nitpicky = False
suppress_warnings = ["ref.python"]

html_theme = "furo"
html_title = "Flask-QBO"
html_static_path = ["_static"]
exclude_patterns = ["_build"]
