"""The callback's ``realmId`` is proven with the new token before anything is stored.

The attack: tenant B's admin signs in to their own company at Intuit and edits
the callback URL's ``realmId`` to company A's id.  The code is genuine (it was
issued for B), so only a read of A's CompanyInfo with B's fresh token can tell
the lie apart; Intuit answers it 403 / code 3100.
"""

from __future__ import annotations

import typing as t

import pytest
import sqlalchemy as sa

from flask_qbo.models import Connection
from flask_qbo.models import SyncLog
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.conftest import login
from tests.connection.test_connect_support import callback
from tests.connection.test_connect_support import connect_via_ui
from tests.connection.test_connect_support import connection_row
from tests.connection.test_connect_support import intuit_sign_in
from tests.connection.test_connect_support import query_of
from tests.connection.test_connect_support import start_connect
from tests.connection.test_connect_support import text
from tests.hostapp import ACME_ADMIN
from tests.hostapp import GLOBEX_ADMIN

#: Globex's own company; TEST_REALM is Acme's.
GLOBEX_REALM = "9130000000000002"
GLOBEX_EMAIL = "gloria@globex.test"


@pytest.fixture
def globex_at_intuit(emulator: t.Any) -> t.Any:
    """Globex's company, and an Intuit user who can sign in to it (and to nothing else)."""
    emulator.add_company(GLOBEX_REALM, "Globex Books")
    emulator.add_user(GLOBEX_EMAIL, "globex-password", [GLOBEX_REALM])
    return emulator


def _globex_sign_in(client: t.Any, emulator: t.Any) -> str:
    """Globex's admin signs in to Globex's company; returns Intuit's redirect back."""
    login(client, GLOBEX_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client), email=GLOBEX_EMAIL, password="globex-password")
    assert query_of(back)["realmId"] == GLOBEX_REALM
    return back


def _with_realm(url: str, realm: str) -> str:
    """The same callback URL with its ``realmId`` edited (what the attacker does in the address bar)."""
    return url.replace(f"realmId={query_of(url)['realmId']}", f"realmId={realm}")


def _active_grants(emulator: t.Any, realm: str) -> list[str]:
    return [g.grant_id for g in emulator.tokens.grants.values() if g.realm == realm and not g.revoked]


def _row_values(app: t.Any, tenant: str) -> dict[str, t.Any] | None:
    """Every column of the tenant's connection row as stored."""
    with app.app_context():
        engine = get_qbo(app).state(app).db.engine
        table = Connection.__table__
        with engine.connect() as conn:
            row = conn.execute(sa.select(table).where(table.c.tenant_key == tenant)).mappings().one_or_none()
        return dict(row) if row is not None else None


def test_realm_edited_to_another_company_is_refused_and_the_grant_revoked(
    app: t.Any, client: t.Any, globex_at_intuit: t.Any
) -> None:
    emulator = globex_at_intuit
    tampered = _with_realm(_globex_sign_in(client, emulator), TEST_REALM)

    response = callback(client, tampered)

    page = text(response)
    assert response.status_code == 403, page
    assert f"QuickBooks did not confirm access to company {TEST_REALM}" in page
    assert "the sign-in was for a different company" in page and "Nothing was changed" in page
    assert connection_row(app, "globex") is None
    assert _active_grants(emulator, GLOBEX_REALM) == [], "the grant Globex's admin just obtained lingers"
    with app.app_context():
        assert get_qbo(app).state(app).db.session.query(SyncLog).count() == 0
    # Acme, who really owns the company, can still connect it.
    acme = app.test_client()
    login(acme, ACME_ADMIN)
    assert connect_via_ui(acme, emulator, realm=TEST_REALM).status_code == 302
    assert connection_row(app, "acme").realm_id == TEST_REALM


def test_tampered_reconnect_leaves_the_existing_connection_exactly_as_it_was(
    app: t.Any, client: t.Any, globex_at_intuit: t.Any
) -> None:
    emulator = globex_at_intuit
    assert callback(client, _globex_sign_in(client, emulator)).status_code == 302
    before = _row_values(app, "globex")
    kept_grants = _active_grants(emulator, GLOBEX_REALM)
    assert before is not None and before["realm_id"] == GLOBEX_REALM and len(kept_grants) == 1

    tampered = _with_realm(_globex_sign_in(client, emulator), TEST_REALM)
    response = callback(client, tampered)

    assert response.status_code == 403
    assert f"QuickBooks did not confirm access to company {TEST_REALM}" in text(response)
    assert _row_values(app, "globex") == before
    # Only the new grant is revoked; the stored one keeps working.
    assert _active_grants(emulator, GLOBEX_REALM) == kept_grants
    with app.app_context():
        qbo = get_qbo(app)
        assert qbo.client(qbo.connection("globex")).company_info()["CompanyName"] == "Globex Books"


def test_realm_edited_to_a_company_nobody_connected_is_refused(
    app: t.Any, client: t.Any, globex_at_intuit: t.Any
) -> None:
    """Without any conflict to trip over, the proof alone refuses the lie."""
    emulator = globex_at_intuit
    emulator.add_company("9130000000000003", "Initech")
    response = callback(client, _with_realm(_globex_sign_in(client, emulator), "9130000000000003"))
    assert response.status_code == 403
    assert "did not confirm access to company 9130000000000003" in text(response)
    assert connection_row(app, "globex") is None


@pytest.mark.parametrize(
    "realm",
    [
        "９１３００００００００００００１",  # fullwidth digits
        "٩١٣٠٠٠٠٠٠٠٠٠٠٠٠١",  # Arabic-Indic digits
        "9130000000000001" + "0" * 20,  # longer than any company id
        "+9130000000000001",
        "9130000000000001%20",
        "913%2F0000000000001",
    ],
    ids=["fullwidth", "arabic-indic", "too-long", "plus", "trailing-space", "slash"],
)
def test_malformed_realm_is_refused_before_the_code_is_used(
    app: t.Any, client: t.Any, emulator: t.Any, realm: str
) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    response = callback(client, _with_realm(back, realm))
    page = text(response)
    assert response.status_code == 400, page
    assert "is not a QuickBooks company (realm) id" in page and "Nothing was changed" in page
    assert connection_row(app, "acme") is None
    # The code was never exchanged: no grant exists to leak.
    assert not emulator.tokens.codes[query_of(back)["code"]].used


@pytest.mark.parametrize(
    ("status", "code", "shown", "answer"),
    [
        (401, "3200", "did not confirm access", 403),
        (500, "10000", "could not confirm access", 502),
    ],
    ids=["unauthorized", "server-error"],
)
def test_a_failed_proof_stores_nothing_and_revokes_the_grant(
    app: t.Any, client: t.Any, emulator: t.Any, status: int, code: str, shown: str, answer: int
) -> None:
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    emulator.faults.fail_next(5, status, code, path_contains="/companyinfo/")
    response = callback(client, back)
    page = text(response)
    assert response.status_code == answer, page
    assert f"QuickBooks {shown} to company {TEST_REALM}" in page and "Nothing was changed" in page
    assert connection_row(app, "acme") is None
    assert _active_grants(emulator, TEST_REALM) == []


def test_the_proof_names_the_company_and_is_counted_as_a_read(app: t.Any, client: t.Any, emulator: t.Any) -> None:
    """The CompanyInfo read that proves the realm also names the company: one read, not two."""
    login(client, ACME_ADMIN)
    back = intuit_sign_in(emulator, start_connect(client))
    emulator.reset_counters()
    assert callback(client, back).status_code == 302
    conn = connection_row(app, "acme")
    assert conn.company_name == "Test Company"
    companyinfo_reads = emulator.counters[TEST_REALM]["reads"] - 2  # terms and payment methods
    assert companyinfo_reads == 1 and conn.reads_count == emulator.counters[TEST_REALM]["reads"]
