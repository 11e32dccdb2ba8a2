"""The sync health page: connection state, queues, failures with Retry, malformed webhooks, the field chart."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import join_name
from flask_qbo import split_name
from flask_qbo.connection import health
from flask_qbo.errors import QBOValidationError
from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import SyncLog
from flask_qbo.models import utcnow
from flask_qbo.state import DEFAULT_TENANT
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.conftest import login
from tests.connection.test_connect_support import csrf
from tests.connection.test_connect_support import text
from tests.connection.test_connect_support import update_connection
from tests.hostapp import ACME_ADMIN
from tests.hostapp import GLOBEX_ADMIN
from tests.hostapp import Contact
from tests.views.test_webhooks import cloudevent
from tests.views.test_webhooks import post
from tests.views.test_webhooks import spoiled

HEALTH = "/qbo/admin/health"
GLOBEX_REALM = "9130000000000002"


def _seed(app: t.Any) -> dict[str, int]:
    """A named contact with a failed and a dead change, queue rows, a failed pull and a webhook time."""
    with app.app_context():
        session = get_qbo(app).state().db.session
        ada = Contact(tenant="acme", first_name="Ada", last_name="Lovelace")
        session.add(ada)
        session.commit()
        key = str(ada.id)
        failed = Outbox(
            tenant_key="acme",
            contact_key=key,
            status="failed",
            error_code="6240",
            attempts=1,
            last_error="Duplicate Name Exists Error: The name supplied already exists.",
        )
        dead = Outbox(
            tenant_key="acme",
            contact_key="999",
            status="dead",
            error_code="500",
            attempts=8,
            last_error="Service unavailable <script>alert(1)</script>",
        )
        session.add_all([failed, dead, Outbox(tenant_key="acme", contact_key=key, status="done")])
        session.add_all(
            [
                Inbox(event_id="e1", realm_id=TEST_REALM, entity="Customer", entity_id="1", operation="Update"),
                Inbox(
                    event_id="e2",
                    realm_id=TEST_REALM,
                    entity="Customer",
                    entity_id="2",
                    operation="Update",
                    status="done",
                ),
                Inbox(event_id="e3", realm_id="other-realm", entity="Customer", entity_id="3", operation="Update"),
            ]
        )
        session.add(
            SyncLog(
                tenant_key="acme",
                realm_id=TEST_REALM,
                contact_key=key,
                direction="pull",
                action="failed",
                error_code="2500",
                message="Invalid Reference Id",
            )
        )
        session.commit()
        ids = {"failed": failed.id, "dead": dead.id}
    update_connection(
        app,
        "acme",
        last_webhook_at=utcnow() - dt.timedelta(minutes=3),
        last_cdc_at=utcnow(),
        reads_month=utcnow().strftime("%Y-%m"),
        reads_count=42,
    )
    return ids


def test_health_page_shows_state_queues_failures_and_chart(app: t.Any, client: t.Any, connected: t.Any) -> None:
    _seed(app)
    login(client, ACME_ADMIN)
    response = client.get(HEALTH)
    assert response.status_code == 200
    page = text(response)
    assert 'data-qbo-status="connected"' in page and "Test Company (Emulator)" in page
    assert "Access token expires" in page and "Authorization hard limit" in page
    assert re.search(r"Last webhook received</dt><dd>[A-Z][a-z]{2} \d{1,2}, \d{4} \d\d:\d\d UTC", page)
    assert "API reads this month</dt><dd>42" in page
    assert '<tr data-qbo-queue="outbox-failed"><td>CRM → QuickBooks (outbox)</td><td>failed</td><td>1</td>' in page
    assert '<tr data-qbo-queue="inbox-pending"><td>QuickBooks → CRM (inbox)</td><td>pending</td><td>1</td>' in page
    # Another realm's inbox row is not counted.
    assert "<td>QuickBooks → CRM (inbox)</td><td>pending</td><td>2</td>" not in page
    assert "Ada Lovelace" in page and "Duplicate Name Exists Error" in page
    assert '<code class="qbo-code">6240</code>' in page
    assert "Invalid Reference Id" in page and "Contact 999 (deleted)" in page
    assert "<script>alert(1)</script>" not in page, "Intuit's messages are escaped"
    assert page.count(">Retry</button>") == 2 and "Retry all" in page
    # The field chart speaks the office's words; the program's names stay out of sight.
    assert "<td>Email</td><td>Email</td><td>↔</td>" in page
    assert "<td>Billing postal code</td><td>Billing address · Postal code</td><td>↔</td>" in page
    assert "<td>Display name (made from the name fields, kept unique)</td><td>Customer display name</td>" in page
    assert "<td>Terms (on the contact card)</td><td>Terms</td><td>QBO → CRM</td>" in page
    cells = re.findall(r"<td>([^<]*)</td>", page.split('id="qbo-health-chart"')[1])
    assert not [c for c in cells if "_" in c or re.search(r"[a-z][A-Z]|Addr|Ref\b", c)], cells
    assert "UTC by tests</dd>" in page  # who connected (testing.connect_tenant's default)


def test_retry_one_and_retry_all(app: t.Any, client: t.Any, connected: t.Any) -> None:
    ids = _seed(app)
    login(client, ACME_ADMIN)
    token = csrf(client, HEALTH)
    response = client.post(f"/qbo/admin/health/retry/{ids['failed']}", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(HEALTH)
    with app.app_context():
        session = get_qbo(app).state().db.session
        assert session.get(Outbox, ids["failed"]).status == "pending"
        assert session.get(Outbox, ids["dead"]).status == "dead"
    assert "The change is queued again" in text(client.get(HEALTH))

    client.post("/qbo/admin/health/retry-all", data={"csrf_token": token})
    with app.app_context():
        assert get_qbo(app).state().db.session.get(Outbox, ids["dead"]).status == "pending"
    page = text(client.get(HEALTH))
    assert "1 change(s) queued again" in page and ">Retry</button>" not in page


def test_retrying_something_not_failed_says_so(app: t.Any, client: t.Any, connected: t.Any) -> None:
    login(client, ACME_ADMIN)
    client.post("/qbo/admin/health/retry/12345", data={"csrf_token": csrf(client, HEALTH)})
    assert "cannot be retried" in text(client.get(HEALTH))


def test_health_page_without_connection(client: t.Any) -> None:
    login(client, ACME_ADMIN)
    page = text(client.get(HEALTH))
    assert "QuickBooks is not connected" in page and "No failures." in page
    assert "<td>Email</td><td>Email</td>" in page


def test_a_failed_push_is_listed_once_with_its_retry_button(app: t.Any, client: t.Any, connected: t.Any) -> None:
    """push records a failure as the outbox row and as a "push failed" log entry: one row, not two."""
    error = QBOValidationError(
        "A business validation error has occurred",
        status=400,
        code="6000",
        detail="Notes are locked by a company setting.",
        element="Notes",
    )
    with app.app_context():
        session = get_qbo(app).state().db.session
        ada = Contact(tenant="acme", first_name="Ada", last_name="Lovelace")
        bob = Contact(tenant="acme", first_name="Bob")
        session.add_all([ada, bob])
        session.commit()
        session.add(
            Outbox(
                tenant_key="acme",
                contact_key=str(ada.id),
                status="failed",
                error_code="6000",
                attempts=1,
                last_error=str(error),
            )
        )
        session.add(Outbox(tenant_key="acme", contact_key=str(bob.id), status="done"))
        for key in (str(ada.id), str(bob.id)):
            session.add(
                SyncLog(
                    tenant_key="acme",
                    realm_id=TEST_REALM,
                    contact_key=key,
                    direction="push",
                    action="failed",
                    error_code="6000",
                    message=str(error),
                )
            )
        session.add(
            SyncLog(
                tenant_key="acme",
                realm_id=TEST_REALM,
                contact_key=str(ada.id),
                direction="pull",
                action="failed",
                error_code="2500",
                message="[2500] Invalid Reference Id",
            )
        )
        session.commit()
        failures = health.recent_failures(get_qbo(app), "acme")
    # Ada's push log entry is folded into her outbox row; her pull failure is a different failure;
    # Bob's outbox row is done, so his log entry is all that is left of his failure.
    assert sorted((f.kind, f.contact, f.status) for f in failures) == [
        ("log", "Ada Lovelace", "pull failed"),
        ("log", "Bob", "push failed"),
        ("outbox", "Ada Lovelace", "failed"),
    ]
    assert sum(1 for f in failures if f.contact == "Ada Lovelace" and f.code == "6000") == 1

    login(client, ACME_ADMIN)
    page = text(client.get(HEALTH))
    assert page.count("Notes are locked by a company setting.") == 2  # Ada's outbox row and Bob's log
    assert page.count(">Retry</button>") == 1
    # The code shows once, in its badge, not again at the start of Intuit's message.
    assert "[6000]" not in page and "[2500]" not in page
    assert '<code class="qbo-code">6000</code>A business validation error has occurred: Notes are locked' in page
    assert '<code class="qbo-code">2500</code>Invalid Reference Id' in page


def test_a_push_failure_resolved_by_a_later_success_is_not_listed(app: t.Any, connected: t.Any) -> None:
    with app.app_context():
        session = get_qbo(app).state().db.session
        cy = Contact(tenant="acme", first_name="Cy")
        dee = Contact(tenant="acme", first_name="Dee")
        session.add_all([cy, dee])
        session.commit()
        for contact, actions in ((cy, ("failed", "updated")), (dee, ("updated", "failed"))):
            for action in actions:
                session.add(
                    SyncLog(
                        tenant_key="acme",
                        realm_id=TEST_REALM,
                        contact_key=str(contact.id),
                        direction="push",
                        action=action,
                        error_code="6000" if action == "failed" else None,
                        message="[6000] Locked" if action == "failed" else None,
                    )
                )
        session.commit()
        failures = health.recent_failures(get_qbo(app), "acme")
    # Cy's failure was followed by a successful push; Dee's came after her last success.
    assert [f.contact for f in failures] == ["Dee"]


def test_malformed_webhook_parts_are_listed_for_their_tenant_only(
    app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    emulator.add_company(GLOBEX_REALM, "Globex Books")
    connect_tenant(app, emulator, "globex", GLOBEX_REALM)
    body = [
        cloudevent("acme-ok"),
        spoiled("acme-bad", intuitentityid=None),
        spoiled("globex-bad", intuitaccountid=GLOBEX_REALM, type="<b>never</b>"),
        spoiled("nobody", intuitaccountid=None),
    ]
    assert post(client, app, body).get_json()["malformed"] == 3
    login(client, ACME_ADMIN)
    page = text(client.get(HEALTH))
    assert "Webhook events not stored" in page
    assert (
        "CloudEvent 2 of 4 (id &#39;acme-bad&#39;, type &#39;qbo.customer.updated.v1&#39;): "
        "&#39;intuitentityid&#39; is missing." in page
    )
    assert "globex-bad" not in page and "nobody" not in page
    login(client, GLOBEX_ADMIN)
    page = text(client.get(HEALTH))
    assert "unexpected event type &#39;&lt;b&gt;never&lt;/b&gt;&#39;" in page, "escaped, and shown"
    assert "acme-bad" not in page and "nobody" not in page


def test_a_single_tenant_host_sees_parts_that_name_no_company(
    app: t.Any, client: t.Any, emulator: t.Any, monkeypatch: t.Any
) -> None:
    monkeypatch.setattr(get_qbo(app), "_tenant_loader", None)  # the host registers no tenant_loader
    connect_tenant(app, emulator, DEFAULT_TENANT, TEST_REALM)
    assert post(client, app, [spoiled("no-realm", intuitaccountid="９１３０")]).status_code == 200
    login(client, ACME_ADMIN)
    page = text(client.get(HEALTH))
    assert (
        "CloudEvent 1 of 1 (id &#39;no-realm&#39;, type &#39;qbo.customer.updated.v1&#39;): "
        "&#39;intuitaccountid&#39; &#39;９１３０&#39; is not a QuickBooks company (realm) id" in page
    )


def test_health_page_without_malformed_webhooks_has_no_such_section(client: t.Any, connected: t.Any) -> None:
    login(client, ACME_ADMIN)
    assert "Webhook events not stored" not in text(client.get(HEALTH))


def test_the_field_chart_shows_how_the_display_name_syncs(app: t.Any) -> None:
    qbo = get_qbo(app)
    with app.app_context():
        derived = next(r for r in health.field_chart(qbo) if r["path"] == "DisplayName")
        assert derived == {
            "label": "Display name (made from the name fields, kept unique)",
            "qbo": "Customer display name",
            "attr": "(derived, unique)",
            "path": "DisplayName",
            "direction": "CRM → QBO",
        }
        app.config["QBO_DISPLAY_NAME"] = "create_only"
        derived = next(r for r in health.field_chart(qbo) if r["path"] == "DisplayName")
        assert derived["direction"] == "CRM → QBO on create; shown"
        qbo.register_contact(
            Contact,
            fields=FieldMap(
                Field("first_name", "DisplayName"),
                Field("last_name", ("GivenName", "FamilyName"), to_qbo=split_name, from_qbo=join_name),
                Field(path="Notes", get=str, watches=("notes",)),
            ),
        )
        chart = [(r["label"], r["qbo"], r["attr"], r["path"], r["direction"]) for r in health.field_chart(qbo)]
        assert chart[0] == (
            "First name",
            "Customer display name",
            "first_name",
            "DisplayName",
            "↔ (CRM → QBO on create only)",
        )
        assert chart[1] == ("Last name", "First name + Last name", "last_name", "GivenName + FamilyName", "↔")
        assert chart[2] == ("Notes", "Notes", "(computed Notes from notes)", "Notes", "CRM → QBO")
        assert all(r[2] != "(derived, unique)" for r in chart)


def test_the_chart_shows_a_hosts_labels_escaped(app: t.Any, client: t.Any) -> None:
    get_qbo(app).register_contact(
        Contact,
        fields=FieldMap(
            Field("email", "PrimaryEmailAddr.Address", label="E-mail <b>address</b>"),
            Field(path="Notes", get=str, watches=("notes",)),
        ),
    )
    login(client, ACME_ADMIN)
    page = text(client.get(HEALTH))
    assert "<td>E-mail &lt;b&gt;address&lt;/b&gt;</td><td>Email</td>" in page and "<b>address" not in page
    assert "<td>Notes</td><td>Notes</td><td>CRM → QBO</td>" in page  # a computed field is labelled too
