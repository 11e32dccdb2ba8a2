"""Who may use the admin pages: admins only, CSRF on every POST, and one tenant at a time."""

from __future__ import annotations

import typing as t

import pytest
from flask import render_template_string
from flask_login import login_user

from flask_qbo.models import Outbox
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.connection.test_connect_support import ADDONS
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import text
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import User
from tests.hostapp import db

PAGES = [ADDONS, "/qbo/admin/health", "/qbo/admin/disconnect", f"/qbo/callback?code=x&state=y&realmId={TEST_REALM}"]
POSTS = ["/qbo/admin/connect", "/qbo/admin/disconnect", "/qbo/admin/health/retry-all", "/qbo/admin/health/retry/1"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_refused(client: t.Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 403
    assert "Only an administrator" in text(response)


@pytest.mark.parametrize("path", PAGES)
def test_non_admins_are_refused(client: t.Any, connected: t.Any, path: str) -> None:
    login(client, ACME_USER)
    response = client.get(path)
    assert response.status_code == 403
    assert "Test Company" not in text(response)


@pytest.mark.parametrize("path", POSTS)
def test_non_admin_posts_are_refused_before_anything_happens(client: t.Any, connected: t.Any, path: str) -> None:
    login(client, ACME_USER)
    assert client.post(path, data={"data": "purge"}).status_code == 403


def test_without_an_admin_hook_everything_is_refused_with_a_hint(app: t.Any, client: t.Any) -> None:
    get_qbo(app)._admin_check = None
    login(client, ACME_ADMIN)
    response = client.get(ADDONS)
    assert response.status_code == 403
    assert "@qbo.admin_required" in text(response)


@pytest.mark.parametrize("path", POSTS)
def test_posts_without_csrf_token_are_refused(app: t.Any, client: t.Any, connected: t.Any, path: str) -> None:
    login(client, ACME_ADMIN)
    response = client.post(path, data={"data": "purge"})
    assert response.status_code == 400
    assert "CSRF token" in text(response)
    assert connection_row(app, "acme").status == "connected"


def test_wrong_csrf_token_is_refused_and_header_token_accepted(client: t.Any) -> None:
    login(client, ACME_ADMIN)
    token = csrf(client)
    assert client.post("/qbo/admin/connect", data={"csrf_token": token + "x"}).status_code == 400
    response = client.post("/qbo/admin/connect", headers={"X-CSRFToken": token})
    assert response.status_code == 302


def test_non_ascii_csrf_token_is_a_400_not_a_crash(client: t.Any) -> None:
    """``hmac.compare_digest`` raises TypeError on non-ASCII text; a forged token must still be a 400."""
    login(client, ACME_ADMIN)
    csrf(client)
    assert client.post("/qbo/admin/connect", data={"csrf_token": "jeton-é"}).status_code == 400


def test_tenant_isolation(app: t.Any, client: t.Any, connected: t.Any) -> None:
    with app.app_context():
        session = get_qbo(app).state().db.session
        row = Outbox(tenant_key="acme", contact_key="1", status="failed", last_error="Acme private failure")
        session.add(row)
        session.commit()
        acme_row = row.id
    login(client, GLOBEX_ADMIN)
    addons = text(client.get(ADDONS))
    assert "Not connected" in addons and "Test Company" not in addons
    health = text(client.get("/qbo/admin/health"))
    assert "Test Company" not in health and "Acme private failure" not in health
    assert "QuickBooks is not connected" in health

    token = csrf(client)
    client.post(f"/qbo/admin/health/retry/{acme_row}", data={"csrf_token": token})
    client.post("/qbo/admin/health/retry-all", data={"csrf_token": token})
    client.post("/qbo/admin/disconnect", data={"csrf_token": token, "data": "purge"})
    with app.app_context():
        assert get_qbo(app).state().db.session.get(Outbox, acme_row).status == "failed"
    assert connection_row(app, "acme").status == "connected"

    login(client, ACME_ADMIN)
    assert "Acme private failure" in text(client.get("/qbo/admin/health"))


def test_panel_and_banner_embed_in_a_host_page(app: t.Any, connected: t.Any) -> None:
    page = '{% include "qbo/admin/_addons_panel.html" %}|{{ qbo_connection_banner() }}'
    with app.test_request_context():
        login_user(db.session.get(User, ACME_ADMIN))
        html = render_template_string(page)
        assert "Connected to <strong>Test Company</strong>" in html
        login_user(db.session.get(User, ACME_USER))
        html = render_template_string(page)
        assert "Only administrators can manage" in html and "Test Company" not in html
        login_user(db.session.get(User, GLOBEX_ADMIN))
        html = render_template_string(page)
        assert "Not connected" in html and 'name="csrf_token"' in html and 'action="/qbo/admin/connect"' in html


def test_flask_wtf_token_is_used_when_the_host_has_csrfprotect(app: t.Any, client: t.Any) -> None:
    from flask_wtf.csrf import CSRFProtect

    CSRFProtect(app)
    login(client, ACME_ADMIN)
    token = csrf(client)
    with client.session_transaction() as session:
        assert "csrf_token" in session  # Flask-WTF's own session key, not the extension's
    assert client.post("/qbo/admin/connect", data={"csrf_token": token}).status_code == 302
    assert client.post("/qbo/admin/connect", data={"csrf_token": "forged"}).status_code == 400
