"""Billing POSTs in both host CSRF setups (with Flask-WTF's CSRFProtect and without): the page's token
is accepted, a missing or forged one refused and nothing queued (issue 17, item 5)."""

from __future__ import annotations

import pathlib
import typing as t

import pytest
from flask_wtf.csrf import CSRFProtect

from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests import hostapp
from tests.conftest import login
from tests.views.billing_factories import add_item
from tests.views.billing_factories import allow_billing
from tests.views.billing_factories import invoice_form
from tests.views.billing_factories import token
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import link_customer


@pytest.fixture(params=["CSRFProtect", "no CSRFProtect"])
def app(request: pytest.FixtureRequest, tmp_path: pathlib.Path, emulator: t.Any) -> t.Any:
    app = hostapp.make_app(f"sqlite:///{tmp_path / 'csrf.sqlite'}")
    if request.param == "CSRFProtect":
        CSRFProtect(app)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    contact = add_contact(app, email="ada@example.com")
    link_customer(app, contact)
    add_item(app, "1", "Garden design")
    add_txn(app, "Invoice", "130", doc_number="1042", total="150.00", balance="150.00")
    allow_billing(app, hostapp.ACME_ADMIN)
    app.config["contact_id"] = contact
    return app


def test_billing_posts_need_the_pages_token(app: t.Any) -> None:
    client = app.test_client()
    login(client, hostapp.ACME_ADMIN)
    contact = app.config["contact_id"]
    tok = token(client, contact)
    posts = {
        f"/qbo/billing/{contact}/new/invoice": invoice_form(),
        f"/qbo/billing/{contact}/totals": invoice_form(),
        f"/qbo/billing/{contact}/txn/Invoice/130/void": {},
    }
    for path, form in posts.items():
        assert client.post(path, data=form).status_code == 400, path
        assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 400, path
        assert client.post(path, data=form, headers={"X-CSRFToken": tok + "x"}).status_code == 400, path
    with app.app_context():
        assert hostapp.db.session.query(Document).count() == 0 and hostapp.db.session.query(Outbox).count() == 0
    saved = client.post(f"/qbo/billing/{contact}/new/invoice", data={**invoice_form(), "csrf_token": tok})
    assert saved.status_code == 303  # a plain form post
    totals = client.post(f"/qbo/billing/{contact}/totals", data=invoice_form(), headers={**HX, "X-CSRFToken": tok})
    assert totals.status_code == 200 and "$150.00" in totals.get_data(as_text=True)  # htmx, token in the header
    voided = client.post(f"/qbo/billing/{contact}/txn/Invoice/130/void", headers={**HX, "X-CSRFToken": tok})
    assert voided.status_code == 200 and "Voiding…" in voided.get_data(as_text=True)
