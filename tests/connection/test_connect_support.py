"""Helpers shared by the connect-flow and admin-page tests (no tests of its own).

They drive the real browser path: the admin page's form (with its CSRF token),
the redirect to the emulator's authorize page, the emulator's sign-in and
company forms, and Intuit's redirect back into the app's callback.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from flask_qbo.models import Connection
from flask_qbo.state import get_qbo

ADDONS = "/qbo/admin/"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')
TXN_FIELD = re.compile(r'name="txn" value="([^"]+)"')


def csrf(client: t.Any, path: str = ADDONS) -> str:
    """The CSRF token an admin page embeds (in a form, or in the htmx headers of the layout)."""
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = CSRF_FIELD.search(page.get_data(as_text=True))
    assert match, "the page carries no CSRF token"
    return match.group(1) or match.group(2)


def start_connect(client: t.Any) -> str:
    """Press "Connect QuickBooks Account"; return the authorize URL the app redirects to."""
    response = client.post("/qbo/admin/connect", data={"csrf_token": csrf(client)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.headers["Location"]


def intuit_sign_in(
    emulator: t.Any,
    authorize_url: str,
    *,
    email: str = "admin@example.com",
    password: str = "password",
    realm: str | None = None,
    cancel: bool = False,
) -> str:
    """Walk the emulator's sign-in (and company picker); return the callback URL it redirects to."""
    http = emulator.http_session()
    page = http.get(authorize_url, allow_redirects=False)
    assert page.status_code == 200, page.text
    txn = TXN_FIELD.search(page.text)
    assert txn, page.text
    form_url = emulator.config.base_url.rstrip("/") + "/connect/oauth2"
    data = {"txn": txn.group(1), "email": email, "password": password, "action": "cancel" if cancel else "signin"}
    answer = http.post(form_url, data=data, allow_redirects=False)
    if answer.status_code == 200 and 'name="realm"' in answer.text:
        choice = {"txn": txn.group(1), "action": "choose", "realm": realm or ""}
        answer = http.post(form_url, data=choice, allow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    return answer.headers["Location"]


def callback(client: t.Any, url: str) -> t.Any:
    """Follow Intuit's redirect into the app (the test client only needs path and query)."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def connect_via_ui(client: t.Any, emulator: t.Any, realm: str | None = None) -> t.Any:
    """The whole dance for the logged-in admin; returns the callback's response."""
    return callback(client, intuit_sign_in(emulator, start_connect(client), realm=realm))


def connection_row(app: t.Any, tenant: str) -> Connection | None:
    """The tenant's connection as committed (detached)."""
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        conn = session.query(Connection).filter_by(tenant_key=tenant).one_or_none()
        if conn is not None:
            session.expunge(conn)
        return conn


def update_connection(app: t.Any, tenant: str, **values: t.Any) -> None:
    """Edit a connection row directly (how tests move token expiries through time)."""
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        conn = session.query(Connection).filter_by(tenant_key=tenant).one()
        for key, value in values.items():
            setattr(conn, key, value)
        session.commit()


def text(response: t.Any) -> str:
    return t.cast(str, response.get_data(as_text=True))
