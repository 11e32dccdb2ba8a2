"""The demo CRM's salespeople quote and invoice (issue 17, item 8): its ``@qbo.can_bill`` hook."""

from __future__ import annotations

import typing as t

import pytest

from demo_app.models import User
from demo_app.models import db
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator
from tests.test_demo_app import _make
from tests.test_demo_app import contact_id
from tests.test_demo_app import sign_in

HX = {"HX-Request": "true"}


@pytest.fixture
def demo(tmp_path: t.Any) -> t.Any:
    """The demo with Acme (tenant "1") connected to the emulator's company."""
    app = _make(tmp_path)
    emu = make_emulator()
    attach_emulator(app, emu)
    connect_tenant(app, emu, "1", TEST_REALM)
    return app


def test_the_seed_has_a_salesperson_per_account(demo: t.Any) -> None:
    with demo.app_context():
        sales = {u.email for u in db.session.query(User).filter_by(role="sales")}
    assert sales == {"sales@acme.test", "sales@globex.test"}


@pytest.mark.parametrize(
    ("email", "may_bill"), [("admin@acme.test", True), ("sales@acme.test", True), ("user@acme.test", False)]
)
def test_admins_and_salespeople_get_the_billing_buttons_and_form(demo: t.Any, email: str, may_bill: bool) -> None:
    cid = contact_id(demo, "Acme Landscaping")
    client = demo.test_client()
    sign_in(client, email)
    folder = client.get(f"/qbo/w/{cid}/transactions", headers=HX).get_data(as_text=True)
    assert ('data-qbo-new="invoice"' in folder) is may_bill
    assert client.get(f"/qbo/billing/{cid}/new/invoice").status_code == (200 if may_bill else 403)


def test_another_accounts_salesperson_cannot_bill_acmes_contacts(demo: t.Any) -> None:
    cid = contact_id(demo, "Acme Landscaping")
    client = demo.test_client()
    sign_in(client, "sales@globex.test")
    assert client.get(f"/qbo/billing/{cid}/new/invoice").status_code == 404
