"""The web UI's billing buttons: "Mark paid" on an invoice, "Accept" on an estimate, the visible total."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig

REALM = "9130350000000011"


@pytest.fixture
def emu() -> Emulator:
    emulator = Emulator(EmulatorConfig())
    emulator.add_company(REALM, "Billing UI Co")
    yield emulator
    emulator.webhooks.stop()


@pytest.fixture
def client(emu: Emulator) -> FlaskClient:
    return emu.app.test_client()


def token(client: FlaskClient, url: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert match
    return match.group(1)


def make(emu: Emulator, entity: str, amount: float) -> dict:
    customer = emu.store.create(REALM, "Customer", {"DisplayName": f"{entity} Buyer"})
    line = {
        "Amount": amount,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"Qty": 4, "UnitPrice": amount / 4},
    }
    return emu.store.create(REALM, entity, {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})


def test_invoice_page_shows_the_total_and_mark_paid_records_a_payment(client: FlaskClient, emu: Emulator) -> None:
    invoice = make(emu, "Invoice", 250.5)
    url = f"/app/invoice?companyId={REALM}&txnId={invoice['Id']}"
    page = client.get(url).get_data(as_text=True)
    assert 'data-testid="txn-total" data-amount="250.50">$250.50' in page
    assert 'data-testid="mark-paid"' in page
    done = client.post(url, data={"csrf_token": token(client, url), "action": "mark_paid", "SyncToken": "0"})
    assert done.status_code == 302
    paid = emu.store.read(REALM, "Invoice", invoice["Id"])
    assert paid["Balance"] == 0 and paid["LinkedTxn"][0]["TxnType"] == "Payment"
    payment = emu.store.read(REALM, "Payment", paid["LinkedTxn"][0]["TxnId"])
    assert payment["TotalAmt"] == 250.5 and payment["UnappliedAmt"] == 0
    ops = [(e.entity, e.operation) for e in emu.webhooks.events]
    assert ops[-2:] == [("Payment", "Create"), ("Invoice", "Update")]
    after = client.get(url).get_data(as_text=True)
    assert 'data-testid="txn-status">Paid' in after and 'data-testid="mark-paid"' not in after


def test_mark_paid_needs_the_form_token(client: FlaskClient, emu: Emulator) -> None:
    invoice = make(emu, "Invoice", 10)
    url = f"/app/invoice?companyId={REALM}&txnId={invoice['Id']}"
    assert client.post(url, data={"action": "mark_paid"}).status_code == 400
    assert emu.store.read(REALM, "Invoice", invoice["Id"])["Balance"] == 10


def test_accept_marks_the_estimate_accepted_today(client: FlaskClient, emu: Emulator) -> None:
    estimate = make(emu, "Estimate", 80)
    url = f"/app/estimate?companyId={REALM}&txnId={estimate['Id']}"
    assert 'data-testid="accept-estimate"' in client.get(url).get_data(as_text=True)
    done = client.post(url, data={"csrf_token": token(client, url), "action": "accept", "SyncToken": "0"})
    assert done.status_code == 302
    accepted = emu.store.read(REALM, "Estimate", estimate["Id"])
    assert accepted["TxnStatus"] == "Accepted" and accepted["AcceptedDate"] == emu.clock.today()
    assert accepted["AcceptedBy"] == "Estimate Buyer"
    assert (emu.webhooks.events[-1].entity, emu.webhooks.events[-1].operation) == ("Estimate", "Update")
    page = client.get(url).get_data(as_text=True)
    assert 'data-testid="txn-status">Accepted' in page and 'data-testid="accept-estimate"' not in page
    stale = client.post(url, data={"csrf_token": token(client, url), "action": "accept", "SyncToken": "0"})
    assert stale.status_code == 400 and 'data-code="5010"' in stale.get_data(as_text=True)


def test_an_estimate_the_api_calls_converted_reads_closed_as_quickbooks_screens_say(
    client: FlaskClient, emu: Emulator
) -> None:
    """QuickBooks closes an estimate an invoice is made from and lists it as Closed; the API may say Converted."""
    estimate = make(emu, "Estimate", 80)
    emu.store.update(REALM, "Estimate", {"Id": estimate["Id"], "SyncToken": "0", "TxnStatus": "Converted"})
    page = client.get(f"/app/estimate?companyId={REALM}&txnId={estimate['Id']}").get_data(as_text=True)
    assert 'data-testid="txn-status">Closed<' in page
    listing = client.get(f"/app/customerdetail?nameId={estimate['CustomerRef']['value']}").get_data(as_text=True)
    assert '<span class="badge Closed">Closed</span>' in listing and "badge Converted" not in listing
