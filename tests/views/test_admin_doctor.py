"""The doctor's summary on the admin sync health page: admin-only, escaped, this tenant's findings only."""

from __future__ import annotations

import re
import typing as t

from flask_qbo.models import Outbox
from flask_qbo.state import get_qbo
from flask_qbo.testing import connect_tenant
from tests.conftest import journal_mode
from tests.conftest import login
from tests.connection.test_connect_support import text
from tests.connection.test_connect_support import update_connection
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER

HEALTH = "/qbo/admin/health"
GLOBEX_REALM = "9130000000000002"


def _doctor_section(page: str) -> str:
    found = re.search(r'<section class="qbo-card qbo-doctor".*?</section>', page, re.S)
    assert found, "the health page has no doctor section"
    return found.group(0)


def test_health_page_shows_the_doctor_summary(app: t.Any, client: t.Any, connected: t.Any, emulator: t.Any) -> None:
    app.config["QBO_REDIRECT_URI"] = "http://qbo.emulator.test/qbo/callback"
    journal_mode(app, "WAL")
    login(client, ACME_ADMIN)
    section = _doctor_section(text(client.get(HEALTH)))
    assert 'data-qbo-doctor="ok"' in section
    assert "0 errors, 0 warnings" in section and "qbo-doctor-finding" not in section

    emulator.add_company(GLOBEX_REALM, "Globex Co")
    connect_tenant(app, emulator, "globex", GLOBEX_REALM)
    update_connection(app, "globex", status="needs_reconnect", status_reason="globex's own trouble")
    update_connection(app, "acme", status="needs_reconnect", status_reason="Intuit said <script>alert(1)</script>")
    with app.app_context():
        session = get_qbo(app).state(app).db.session
        session.add(Outbox(tenant_key="acme", contact_key="1", status="dead"))
        session.commit()
    app.config["QBO_CLIENT_SECRET"] = None
    section = _doctor_section(text(client.get(HEALTH)))
    assert 'data-qbo-doctor="error"' in section
    assert "QBO_CLIENT_SECRET is missing." in section
    assert "1 change(s) ran out of attempts (dead)" in section
    assert "Intuit said &lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "<script>" not in section
    assert "globex" not in section  # another tenant's connection is not this admin's business
    assert section.count('data-qbo-level="error"') == 3


def test_doctor_summary_is_admin_only(app: t.Any, client: t.Any, connected: t.Any) -> None:
    app.config["QBO_CLIENT_SECRET"] = None
    login(client, ACME_USER)
    response = client.get(HEALTH)
    assert response.status_code == 403
    assert "QBO_CLIENT_SECRET" not in text(response)
