"""The card and folder for jobs and foreign currencies, from mirror rows inserted directly.

A parent's card rolls up its jobs ("Balance with jobs" and a short list), a
job's card names its parent, and a foreign-currency customer's amounts show
their home-currency figure beside them.  QBO names are escaped; another
tenant's rows never appear.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal

import pytest

from flask_qbo.models import Customer
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.widgets.jobs import MAX_LISTED
from tests.sync.push.fxhost import add
from tests.sync.push.fxhost import db
from tests.sync.push.fxhost import make_app
from tests.sync.push.fxhost import set_prefs

HX = {"HX-Request": "true"}


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'card.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


def mirror(qbo_id: str, name: str, *, contact_key: str | None = None, tenant: str = "acme", **kw: t.Any) -> Customer:
    row = Customer(
        tenant_key=tenant,
        realm_id=TEST_REALM,
        qbo_id=qbo_id,
        contact_key=contact_key,
        display_name=name,
        sync_status="synced",
        **kw,
    )
    db.session.add(row)
    db.session.commit()
    return row


def card(host: t.Any, contact_id: int) -> str:
    response = host.test_client().get(f"/qbo/w/{contact_id}/summary", headers=HX)
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_a_parent_card_rolls_up_its_jobs(host: t.Any) -> None:
    parent = add("Acme Corp")
    job = add("Phase 1")
    mirror(
        "10",
        "Acme Corp",
        contact_key=str(parent.id),
        currency="USD",
        balance=Decimal("100"),
        balance_with_jobs=Decimal("350.5"),
    )
    mirror("11", "<b>Phase & 1</b>", contact_key=str(job.id), is_job=True, parent_qbo_id="10", balance=Decimal("200"))
    mirror("12", "Unlinked job", is_job=True, parent_qbo_id="10", balance=Decimal("50.5"))
    mirror("13", "Closed job", is_job=True, parent_qbo_id="10", balance=Decimal("0"), active=False)
    mirror("14", "Globex job", tenant="globex", contact_key="99", is_job=True, parent_qbo_id="10")
    html = card(host, parent.id)
    assert "Balance with jobs" in html and "$350.50" in html
    assert "&lt;b&gt;Phase &amp; 1&lt;/b&gt;" in html and "<b>Phase" not in html
    assert f'href="/qbo/w/{job.id}/summary"' in html  # the linked job's own card
    assert "Unlinked job" in html and "$50.50" in html and "nameId=12" in html
    assert "Closed job" not in html and "Globex job" not in html and "/qbo/w/99/" not in html


def test_a_job_card_names_its_parent(host: t.Any) -> None:
    parent = add("Acme Corp")
    job = add("Phase 1")
    mirror("10", "Acme <Corp>", contact_key=str(parent.id))
    mirror("11", "Phase 1", contact_key=str(job.id), is_job=True, parent_qbo_id="10", parent_name="Acme <Corp>")
    html = card(host, job.id)
    assert "Job of" in html and "Acme &lt;Corp&gt;" in html and "Acme <Corp>" not in html
    assert f'href="/qbo/w/{parent.id}/summary"' in html
    assert "Balance with jobs" not in html  # a job without jobs of its own has no roll-up


def test_with_qbo_contact_url_job_links_open_the_hosts_contact_page(host: t.Any) -> None:
    host.config["QBO_CONTACT_URL"] = "/crm/contacts/{contact_key}"
    parent = add("Acme Corp")
    job = add("Phase 1")
    mirror("10", "Acme Corp", contact_key=str(parent.id))
    mirror("11", "Phase 1", contact_key=str(job.id), is_job=True, parent_qbo_id="10", parent_name="Acme Corp")
    assert f'href="/crm/contacts/{parent.id}"' in card(host, job.id)
    assert f'href="/crm/contacts/{job.id}"' in card(host, parent.id)


def test_a_job_whose_parent_is_not_mirrored_names_it_from_qbo(host: t.Any) -> None:
    job = add("Phase 1")
    raw = {"FullyQualifiedName": "Far Away Ltd:Phase 1"}
    mirror("11", "Phase 1", contact_key=str(job.id), is_job=True, parent_qbo_id="77", raw=raw)
    html = card(host, job.id)
    assert "Job of" in html and "Far Away Ltd" in html and "nameId=77" in html


def test_the_list_of_jobs_is_short(host: t.Any) -> None:
    parent = add("Big Parent")
    mirror("10", "Big Parent", contact_key=str(parent.id), balance_with_jobs=Decimal("0"), balance=Decimal("0"))
    for n in range(MAX_LISTED + 3):
        mirror(str(100 + n), f"Job {n:02d}", is_job=True, parent_qbo_id="10")
    html = card(host, parent.id)
    assert f"Job {MAX_LISTED - 1:02d}" in html and f"Job {MAX_LISTED:02d}" not in html
    assert "and 3 more" in html


def test_a_foreign_currency_card_shows_the_home_figure(host: t.Any) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    client = add("Ernst GmbH", currency="EUR")
    mirror("20", "Ernst GmbH", contact_key=str(client.id), currency="EUR", balance=Decimal("1000"))
    day = dt.date(2026, 11, 1)
    for qbo_id, kind, total, balance, raw in (
        ("1", "Invoice", "800", "800", {"ExchangeRate": 1.1, "HomeBalance": 880, "HomeTotalAmt": 880}),
        ("2", "Invoice", "300", "300", {"ExchangeRate": 1.2}),  # no HomeBalance: amount × rate
        ("3", "Payment", "100", "100", {"ExchangeRate": 1.0}),  # unapplied credit
    ):
        db.session.add(
            Transaction(
                realm_id=TEST_REALM,
                txn_type=kind,
                qbo_id=qbo_id,
                customer_qbo_id="20",
                txn_date=day,
                total=Decimal(total),
                balance=Decimal(balance),
                currency="EUR",
                status="open",
                raw=raw,
            )
        )
    db.session.commit()
    html = card(host, client.id)
    # open items: 880 + 360 - 100 = 1140 home for 800 + 300 - 100 = 1000 foreign
    assert "Open balance in home currency" in html and "≈ USD 1,140.00" in html
    assert "Currency is fixed" not in html  # the contact still asks for EUR

    folder = host.test_client().get(f"/qbo/w/{client.id}/transactions", headers=HX).get_data(as_text=True)
    assert "≈ USD 880.00" in folder and "≈ USD 360.00" in folder
    assert "≈ USD 100.00" not in folder  # a rate of 1: the same figure is not repeated


def test_a_home_currency_card_shows_no_second_figure(host: t.Any) -> None:
    set_prefs(TEST_REALM, home="USD", multi_currency=True)
    client = add("Local Shop", currency="USD")
    mirror("30", "Local Shop", contact_key=str(client.id), currency="USD", balance=Decimal("10"))
    html = card(host, client.id)
    assert "home currency" not in html and "≈" not in html


def test_a_jobs_change_is_not_answered_304(host: t.Any) -> None:
    """The card's ETag covers its jobs' rows, which are other customers' rows."""
    parent = add("Acme Corp")
    mirror("10", "Acme Corp", contact_key=str(parent.id), currency="USD", balance_with_jobs=Decimal("5"))
    job = mirror("11", "Phase 1", is_job=True, parent_qbo_id="10", balance=Decimal("5"))
    http = host.test_client()
    first = http.get(f"/qbo/w/{parent.id}/summary", headers=HX)
    assert (
        http.get(f"/qbo/w/{parent.id}/summary", headers={**HX, "If-None-Match": first.headers["ETag"]}).status_code
        == 304
    )
    job.balance = Decimal("7.25")
    db.session.commit()
    again = http.get(f"/qbo/w/{parent.id}/summary", headers={**HX, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and "$7.25" in again.get_data(as_text=True)
