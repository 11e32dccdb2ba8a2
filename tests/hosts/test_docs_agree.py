"""What the docs tell a host agrees with the code, page with page (issue 20, items 5 and 7).

A host follows the pages it reads: one page asking for blocks the templates
never fill, a token helper that exists only with Flask-WTF, a make target that
exists only in a source checkout, or two ways of registering the extension,
each cost the CRM developer of the issue a workaround.
"""

from __future__ import annotations

import pathlib
import re

import pytest
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo import QBO

REPO = pathlib.Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "flask_qbo" / "templates" / "qbo"
CSS = REPO / "flask_qbo" / "static" / "qbo" / "qbo.css"
PAGES = sorted((REPO / "docs").glob("*.rst")) + [REPO / "README.md"]


def text(path: pathlib.Path) -> str:
    return path.read_text(encoding="utf-8")


def test_the_docs_ask_for_the_blocks_the_pages_fill_and_no_other() -> None:
    filled: set[str] = set()
    for template in TEMPLATES.rglob("*.html"):
        source = text(template)
        if '{% extends config["QBO_BASE_TEMPLATE"] %}' in source or "{% extends base_template %}" in source:
            filled |= set(re.findall(r"{% block (\w+) %}", source))
    assert filled == {"content", "title"}  # "title" is used when the layout has it; "content" is required
    for page in PAGES:
        # "blocks ``title``, ``head`` and ``content``" and the like: a block the pages never fill.
        asked = re.findall(r"blocks? ((?:``\w+``(?:,\s*|\s+and\s+)?)+)", text(page))
        named = {name for group in asked for name in re.findall(r"``(\w+)``", group)}
        assert named <= {"content", "title"}, (page.name, named)


def test_a_layout_with_only_the_content_block_hosts_the_pages(tmp_path: pathlib.Path) -> None:
    (tmp_path / "layout.html").write_text(
        '{% from "qbo/_macros.html" import qbo_assets with context %}'
        "<html><head>{{ qbo_assets() }}</head><body><nav>HOST-NAV</nav>{% block content %}{% endblock %}</body></html>"
    )
    app = Flask(__name__, template_folder=str(tmp_path))
    app.config.update(
        TESTING=True, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI="sqlite://", QBO_BASE_TEMPLATE="layout.html"
    )
    QBO(app, db=SQLAlchemy(app))
    answer = app.test_client().get("/qbo/admin/")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 403 and "HOST-NAV" in page and "qbo.css" in page
    assert "admin_required" in page  # the page's own content, inside the host's layout


def test_the_docs_use_the_token_helper_every_app_has() -> None:
    """``csrf_token()`` exists only under Flask-WTF's CSRFProtect; ``qbo_csrf_token()`` always (item 5)."""
    for page in PAGES:
        calls = re.findall(r"(?<![\w.])csrf_token\(\)\s*(?:\||}})", text(page))
        assert calls == [], page.name


def test_one_way_to_register_the_extension() -> None:
    """``QBO()`` then ``init_app(app, db=db)`` on every page; ``QBO(app, db=db)`` named once (item 7)."""
    for page in PAGES:
        assert "QBO(db=db)" not in text(page), page.name
        assert re.search(r"qbo\.init_app\(app\)(?!\S)", text(page)) is None, page.name
    assert "qbo.init_app(app, db=db)" in text(REPO / "docs" / "adding-to-your-crm.rst")


def test_the_emulator_is_started_the_way_any_install_can() -> None:
    """``make emulator`` exists only in a source checkout (item 7)."""
    for page in PAGES:
        if "make emulator" in text(page):
            assert "python -m flask_qbo.emulator" in text(page), page.name
    assert "make emulator" not in text(REPO / "docs" / "adding-to-your-crm.rst")


ACCENT_DEFAULTS = ("#1e7b14", "#17610f", "#1e5a14", "#eef6ec")


def test_widget_colours_are_themeable_and_documented() -> None:
    """Buttons wear the host's colours through ``--qbo-*`` custom properties (item 7)."""
    css = text(CSS)
    body = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    button = re.search(r"^\.qbo-button \{([^}]*)\}", body, re.M)
    assert button is not None
    assert "var(--qbo-accent," in button.group(1) and "var(--qbo-accent-contrast," in button.group(1)
    for colour in ACCENT_DEFAULTS:
        bare = re.findall(rf"(?<!, ){colour}", body)
        assert bare == [], f"{colour} is used outside a var() fallback"
    used = set(re.findall(r"var\((--qbo-[\w-]+)", body))
    documented = set(re.findall(r"``(--qbo-[\w-]+)``", text(REPO / "docs" / "widgets.rst")))
    assert used and used == documented
    assert "--qbo-accent: var(--bs-primary)" in text(REPO / "docs" / "widgets.rst")


@pytest.mark.parametrize("page", ["emulator.rst", "testing.rst"])
def test_the_testing_pages_exist_and_are_in_the_index(page: str) -> None:
    assert page.removesuffix(".rst") in text(REPO / "docs" / "index.rst")
    assert "push_now" in text(REPO / "docs" / page) and "qbo_emulator" in text(REPO / "docs" / page)


def test_the_accent_falls_back_to_its_documented_default_everywhere() -> None:
    body = re.sub(r"/\*.*?\*/", "", text(CSS), flags=re.S)
    assert set(re.findall(r"var\(--qbo-accent, (#\w+)\)", body)) == {ACCENT_DEFAULTS[0]}
    status = re.search(r"^\.qbo-status--connected \{([^}]*)\}", body, re.M)
    assert status is not None and "var(--qbo-accent," in status.group(1)
