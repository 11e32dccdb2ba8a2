"""/send and the payment link: EmailSent, DeliveryInfo, requestid replay, include=invoiceLink (facts §4, §5)."""

from __future__ import annotations

import re

import pytest

from flask_qbo.emulator.preferences import PREFERENCES_ID

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def customer(api):
    return api.create_customer(DisplayName="Send Customer", PrimaryEmailAddr={"Address": "ap@example.com"})


@pytest.fixture
def quiet(api):
    return api.create_customer(DisplayName="No Email Customer")


def create_invoice(api, customer, **fields):
    return api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(120)], **fields})


def take_payments(emulator, realm, on=True):
    emulator.store.company(realm).table("Preferences")[PREFERENCES_ID]["SalesFormsPrefs"][
        "ETransactionPaymentEnabled"
    ] = on


def send(api, entity, txn_id, **params):
    return api.session.post(
        api.url(f"{entity}/{txn_id}/send"), params=params or None, data=b"", headers=api.headers(OCTET)
    )


# -- /send ---------------------------------------------------------------------------------------


def test_send_returns_the_whole_entity_marked_sent(api, customer, emulator):
    inv = create_invoice(api, customer)
    assert inv["BillEmail"] == {"Address": "ap@example.com"} and inv["EmailStatus"] == "NotSet"
    resp = send(api, "invoice", inv["Id"])
    assert resp.status_code == 200, resp.text
    sent = resp.json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent"
    assert sent["DeliveryInfo"] == {"DeliveryType": "Email", "DeliveryTime": emulator.clock.iso()}
    assert sent["Line"] == inv["Line"] and sent["TotalAmt"] == 120 and sent["BillEmail"]["Address"] == "ap@example.com"


def test_send_to_overwrites_bill_email_and_estimates_send_too(api, customer):
    est = api.create("Estimate", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5)]})
    sent = send(api, "estimate", est["Id"], sendTo="boss@example.com").json()["Estimate"]
    assert sent["BillEmail"] == {"Address": "boss@example.com"} and sent["EmailStatus"] == "EmailSent"


def test_send_without_any_address_is_a_validation_fault(api, quiet):
    inv = create_invoice(api, quiet)
    assert "BillEmail" not in inv
    resp = send(api, "invoice", inv["Id"])
    assert resp.status_code == 400
    error = api.error(resp)
    assert error["code"] == "6000" and error["element"] == "BillEmail"
    assert send(api, "invoice", inv["Id"], sendTo="x@example.com").status_code == 200


def test_replayed_requestid_answers_the_first_send_and_mails_once(api, customer, emulator):
    inv = create_invoice(api, customer)
    first = send(api, "invoice", inv["Id"], requestid="send-1")
    again = send(api, "invoice", inv["Id"], requestid="send-1")
    assert again.status_code == 200 and again.content == first.content
    emailed = [e for e in emulator.webhooks.events if e.entity == "Invoice" and e.operation == "Emailed"]
    assert len(emailed) == 1 and emailed[0].entity_id == inv["Id"]
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["SyncToken"] == "1"


# -- include=invoiceLink -------------------------------------------------------------------------


def test_invoice_link_only_on_a_read_that_asks_when_payable(api, customer, emulator, realm):
    inv = create_invoice(api, customer)
    assert "InvoiceLink" not in api.get(f"invoice/{inv['Id']}", include="invoiceLink").json()["Invoice"]
    take_payments(emulator, realm)
    payable = api.post(
        "invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(120)]},
        params={"include": "invoiceLink"},
    ).json()["Invoice"]
    assert payable["AllowOnlineCreditCardPayment"] is True and payable["AllowOnlineACHPayment"] is True
    assert "InvoiceLink" not in payable  # never on the create POST
    assert "InvoiceLink" not in api.get(f"invoice/{payable['Id']}").json()["Invoice"]
    link = api.get(f"invoice/{payable['Id']}", include="invoiceLink").json()["Invoice"]["InvoiceLink"]
    assert re.fullmatch(rf"http://qbo\.emulator\.test/pay/{realm}/{payable['Id']}/[0-9a-f]{{32}}", link)
    rows = api.query(f"select * from Invoice where Id = '{payable['Id']}'").json()["QueryResponse"]["Invoice"]
    assert "InvoiceLink" not in rows[0]
    # the older invoice was made before the company took payments: no online flags, no link
    assert "InvoiceLink" not in api.get(f"invoice/{inv['Id']}", include="invoiceLink").json()["Invoice"]


def test_no_link_without_bill_email_or_with_online_payment_off(api, customer, quiet, emulator, realm):
    take_payments(emulator, realm)
    no_email = create_invoice(api, quiet)
    assert "InvoiceLink" not in api.get(f"invoice/{no_email['Id']}", include="invoiceLink").json()["Invoice"]
    no_online = create_invoice(api, customer, AllowOnlineCreditCardPayment=False, AllowOnlineACHPayment=False)
    assert "InvoiceLink" not in api.get(f"invoice/{no_online['Id']}", include="invoiceLink").json()["Invoice"]
    card_only = create_invoice(api, customer, AllowOnlineACHPayment=False)
    assert "InvoiceLink" in api.get(f"invoice/{card_only['Id']}", include="invoiceLink").json()["Invoice"]


def test_the_pay_page_records_a_payment_of_the_balance(api, customer, emulator, realm):
    take_payments(emulator, realm)
    inv = create_invoice(api, customer)
    link = api.get(f"invoice/{inv['Id']}", include="invoiceLink").json()["Invoice"]["InvoiceLink"]
    path = link.removeprefix("http://qbo.emulator.test")
    client = emulator.app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert 'data-testid="pay-balance">120.00' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(path, data={}).status_code == 400  # no form token: refused, nothing paid
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["Balance"] == 120
    done = client.post(path, data={"csrf_token": token})
    assert done.status_code == 302
    invoice = api.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert invoice["Balance"] == 0 and invoice["LinkedTxn"][0]["TxnType"] == "Payment"
    assert 'data-testid="pay-done"' in client.get(path).get_data(as_text=True)
    assert client.get(path[:-4] + "0000").status_code == 404  # a forged token
    ops = [(e.entity, e.operation) for e in emulator.webhooks.events]
    assert ("Payment", "Create") in ops and ops[-1] == ("Invoice", "Update")
