"""The demo's contact form says QuickBooks' limits at the field, and its delete confirmation warns of money owed."""

from __future__ import annotations

import datetime as dt
import re
import typing as t
from decimal import Decimal

from demo_app.models import Contact
from demo_app.models import db
from demo_app.settings import qbo_settings_from_env
from flask_qbo.models import Customer
from flask_qbo.models import Transaction
from tests.test_demo_app import _make
from tests.test_demo_app import contact_id
from tests.test_demo_app import sign_in

LONG = "Bartholomew" * 10 + "X"  # 111 characters


def test_the_form_shows_each_limit_at_its_field(tmp_path: t.Any) -> None:
    client = _make(tmp_path).test_client()
    sign_in(client, "user@acme.test")
    page = client.get("/contacts/new").get_data(as_text=True)
    first = re.search(r"<input[^>]*id=\"first_name\"[^>]*>", page)
    assert first is not None
    assert "maxlength" not in page  # the browser would cut the value silently
    assert 'data-qbo-limit="100"' in first[0] and 'aria-describedby="first_name-limit first_name-over"' in first[0]
    assert '<p class="field-over" id="first_name-over" aria-live="polite"></p>' in page
    assert '<p class="field-hint" id="first_name-limit">Up to 100 characters (QuickBooks\' limit).</p>' in (
        page.replace("&#39;", "'")
    )
    assert re.search(r'data-qbo-limit="16"[^>]*id="title"|id="title"[^>]*data-qbo-limit="16"', page)
    assert re.search(r'<textarea[^>]*data-qbo-limit="2000"', page)  # QuickBooks' Notes limit, not the old 4000


def test_a_name_over_the_limit_is_refused_with_a_message_and_kept(tmp_path: t.Any) -> None:
    demo = _make(tmp_path)
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    response = client.post("/contacts/new", data={"first_name": LONG, "last_name": "Fox"})
    assert response.status_code == 200  # not saved, not cut short
    page = response.get_data(as_text=True)
    assert "QuickBooks allows at most 100 characters here; this has 111." in page
    assert f'value="{LONG}"' in page  # the user's input is kept to correct
    with demo.app_context():
        assert db.session.query(Contact).filter_by(last_name="Fox").count() == 0

    saved = client.post("/contacts/new", data={"first_name": LONG[:100], "last_name": "Fox"})
    assert saved.status_code == 302
    with demo.app_context():
        assert db.session.query(Contact).filter_by(last_name="Fox").one().first_name == LONG[:100]


def test_the_edit_form_refuses_too_long_a_company_too(tmp_path: t.Any) -> None:
    demo = _make(tmp_path)
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    response = client.post(f"/contacts/{cid}/edit", data={"first_name": "Al", "company": LONG})
    assert response.status_code == 200
    assert "QuickBooks allows at most 100 characters here; this has 111." in response.get_data(as_text=True)


def test_the_header_keeps_a_long_name_in_one_line_with_its_title(tmp_path: t.Any) -> None:
    demo = _make(tmp_path)
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    saved = client.post("/contacts/new", data={"first_name": LONG[:100], "last_name": LONG[:100]})
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    full = f"{LONG[:100]} {LONG[:100]}"
    assert f'<span class="contact-name" title="{full}">{full}</span>' in page
    css = client.get("/static/demo.css").get_data(as_text=True)
    assert re.search(r"\.contact-name \{[^}]*text-overflow: ellipsis", css)
    assert re.search(r"\.identity \{[^}]*min-width: 0", css)


def _owes(demo: t.Any, cid: int, balance: str, overdue: str | None = None) -> None:
    """A mirrored customer of the contact's account with an open balance (and an overdue invoice)."""
    with demo.app_context():
        contact = db.session.get(Contact, cid)
        db.session.add(
            Customer(
                tenant_key=str(contact.account_id),
                contact_key=str(cid),
                realm_id="9130000000000001",
                qbo_id="41",
                display_name=contact.display_name,
                active=True,
                currency="USD",
                balance=Decimal(balance),
            )
        )
        if overdue:
            db.session.add(
                Transaction(
                    realm_id="9130000000000001",
                    txn_type="Invoice",
                    qbo_id="900",
                    customer_qbo_id="41",
                    total=Decimal(overdue),
                    balance=Decimal(overdue),
                    status="open",
                    deleted=False,
                    txn_date=dt.date(2026, 1, 1),
                    due_date=dt.date(2026, 1, 31),
                )
            )
        db.session.commit()


def test_the_delete_confirmation_warns_of_money_owed(tmp_path: t.Any) -> None:
    demo = _make(tmp_path)
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    cid = contact_id(demo, "Acme Landscaping")
    with demo.app_context():
        name = db.session.get(Contact, cid).display_name
    show = client.get(f"/contacts/{cid}").get_data(as_text=True)
    assert f'href="/contacts/{cid}/delete"' in show

    quiet = client.get(f"/contacts/{cid}/delete").get_data(as_text=True)
    assert "data-qbo-delete-warning" not in quiet and "QuickBooks keeps the customer, marked inactive" in quiet

    _owes(demo, cid, "1812.75", overdue="1054.18")
    page = client.get(f"/contacts/{cid}/delete").get_data(as_text=True)
    assert "data-qbo-delete-warning" in page
    assert f"{name} owes $1,812.75, $1,054.18 overdue" in page
    assert client.post(f"/contacts/{cid}/delete").status_code == 302
    with demo.app_context():
        assert db.session.get(Contact, cid) is None


def test_another_accounts_contact_has_no_delete_page(tmp_path: t.Any) -> None:
    demo = _make(tmp_path)
    client = demo.test_client()
    sign_in(client, "user@acme.test")
    globex = contact_id(demo, "Globex Supplies")
    assert client.get(f"/contacts/{globex}/delete").status_code == 404


def test_the_demo_takes_its_timezone_from_the_environment() -> None:
    assert qbo_settings_from_env({"QBO_TIMEZONE": "Europe/Berlin"}) == {"QBO_TIMEZONE": "Europe/Berlin"}
