"""The summary card of issue 18: empty states instead of "None", the QuickBooks name, long names, local times."""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from decimal import Decimal

from flask_qbo.models import Customer
from tests.conftest import login
from tests.hostapp import ACME_USER
from tests.hostapp import Contact
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import link_customer
from tests.widgets.widget_factories import update


def _summary(client: t.Any, contact_id: int) -> str:
    response = client.get(f"/qbo/w/{contact_id}/summary", headers=HX)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_a_new_customer_card_shows_empty_states_never_none(app: t.Any, client: t.Any, connected: t.Any) -> None:
    # What push mirrors for a customer it just created: no payment, no terms, QBO's "None" delivery method.
    contact_id = add_contact(app, last_name="Lovelace")
    link_customer(app, contact_id, balance=Decimal("0"), delivery_method="None", currency=None)
    login(client, ACME_USER)
    html = _summary(client, contact_id)
    assert "No payments yet" in html
    assert "No preference" in html
    visible = re.sub(r"<[^>]*>", " ", html)
    assert not re.search(r"\bNone\b", visible), visible


def test_the_quickbooks_name_shows_only_when_it_differs(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Ann", last_name="Lee")
    row_id = link_customer(app, contact_id, display_name="Ann  Lee")  # runs of spaces are the same name
    login(client, ACME_USER)
    html = _summary(client, contact_id)
    assert "In QuickBooks:" not in html and "data-qbo-name-differs" not in html

    update(app, Customer, row_id, display_name="Ann Lee (2)")
    html = _summary(client, contact_id)
    assert "In QuickBooks: </span>" in html and ">Ann Lee (2)<" in html


def test_the_quickbooks_name_follows_a_rename_of_the_contact(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Ann", last_name="Lee")
    link_customer(app, contact_id, display_name="Ann Lee")
    login(client, ACME_USER)
    first = client.get(f"/qbo/w/{contact_id}/summary", headers=HX)
    assert "In QuickBooks:" not in first.get_data(as_text=True)
    update(app, Contact, contact_id, last_name="Lee-Park")  # renamed; the push has not run yet
    again = client.get(f"/qbo/w/{contact_id}/summary", headers={**HX, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200  # not a 304: the card must say the names differ now
    assert "In QuickBooks: </span>" in again.get_data(as_text=True)


def test_the_quickbooks_name_is_escaped(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app, first_name="Eve", last_name="Stone")
    link_customer(app, contact_id, display_name='<img src=x onerror="alert(1)">')
    login(client, ACME_USER)
    html = _summary(client, contact_id)
    assert "In QuickBooks:" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html


def test_a_long_name_is_clamped_with_the_full_name_in_its_title(app: t.Any, client: t.Any, connected: t.Any) -> None:
    name = "Wolfeschlegelsteinhausenbergerdorff " * 8
    contact_id = add_contact(app, first_name="Hubert", last_name="Wolfe")
    link_customer(app, contact_id, display_name=name.strip())
    login(client, ACME_USER)
    html = _summary(client, contact_id)
    assert '<dd class="qbo-customer-name">' in html
    assert f'title="{name.strip()}"' in html
    css = client.get("/qbo/w/static/qbo.css").get_data(as_text=True)
    assert ".qbo-customer-name" in css and "line-clamp: 3" in css


def test_last_synced_is_shown_in_the_apps_timezone(app: t.Any, client: t.Any, connected: t.Any) -> None:
    contact_id = add_contact(app)
    link_customer(app, contact_id, last_synced_at=dt.datetime(2026, 1, 2, 23, 30, tzinfo=dt.timezone.utc))
    app.config["QBO_TIMEZONE"] = "Europe/Berlin"
    login(client, ACME_USER)
    html = _summary(client, contact_id)
    assert "Last synced Jan 3, 2026 00:30 CET" in html


def test_a_queued_invoice_is_not_the_contacts_sync_state(app: t.Any, client: t.Any, connected: t.Any) -> None:
    from flask_qbo.models import Outbox
    from flask_qbo.models import OutboxOp
    from tests.hostapp import db

    contact_id = add_contact(app, last_name="Lovelace")
    link_customer(app, contact_id)
    with app.app_context():
        db.session.add(
            Outbox(tenant_key="acme", contact_key=str(contact_id), op=OutboxOp.CREATE_DOC, target={"document_id": 1})
        )
        db.session.commit()
    login(client, ACME_USER)
    assert "Waiting to sync" not in _summary(client, contact_id)
    with app.app_context():
        db.session.add(Outbox(tenant_key="acme", contact_key=str(contact_id), op=OutboxOp.UPSERT))
        db.session.commit()
    assert "Waiting to sync" in _summary(client, contact_id)
