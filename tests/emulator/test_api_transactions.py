"""Sales transactions: totals, numbering, balances, delete, void, pdf, send (facts §4, §10)."""

from __future__ import annotations

import pytest

TXNS = ["Invoice", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt"]


@pytest.fixture
def customer(api):
    return api.create_customer(DisplayName="Txn Customer", PrimaryEmailAddr={"Address": "txn@example.com"})


@pytest.mark.parametrize("entity", TXNS)
def test_create_computes_total_docnumber_and_date(api, customer, entity, emulator):
    txn = api.create(
        entity,
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [api.line(100.10), api.line(None or 5, Qty=2, UnitPrice=2.5)],
        },
    )
    assert txn["TotalAmt"] == 105.10
    assert txn["DocNumber"] == "1001"
    assert txn["TxnDate"] == emulator.clock.today()
    assert txn["CustomerRef"] == {"value": customer["Id"], "name": "Txn Customer"}
    assert txn["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert txn["SyncToken"] == "0" and txn["domain"] == "QBO"
    second = api.create(entity, {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(1)]})
    assert second["DocNumber"] == "1002"


def test_amount_from_qty_times_unit_price(api, customer):
    inv = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"Qty": 3, "UnitPrice": 1.5}}],
        },
    )
    assert inv["TotalAmt"] == 4.5


def test_customer_ref_required_and_valid(api, customer):
    assert api.error(api.post("invoice", {"Line": [api.line(1)]}))["code"] == "2020"
    assert api.error(api.post("invoice", {"CustomerRef": {"value": "999"}, "Line": [api.line(1)]}))["code"] == "2500"
    api.post("customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    resp = api.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(1)]})
    assert resp.status_code == 400 and api.error(resp)["code"] == "610"


def test_invoice_due_date_from_terms(api):
    cust = api.create_customer(DisplayName="Termed", SalesTermRef={"value": "3"})  # Net 30
    inv = api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "TxnDate": "2026-01-10", "Line": [api.line(50)]})
    assert inv["DueDate"] == "2026-02-09" and inv["SalesTermRef"]["name"] == "Net 30"
    inv2 = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TxnDate": "2026-01-10",
            "SalesTermRef": {"value": "2"},
            "Line": [api.line(50)],
        },
    )
    assert inv2["DueDate"] == "2026-01-25"


def test_payment_reduces_invoice_and_customer_balance(api, customer):
    inv = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(100)]})
    pay = api.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 150,
            "Line": [{"Amount": 60, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert pay["UnappliedAmt"] == 90
    invoice = api.get(f"invoice/{inv['Id']}").json()["Invoice"]
    assert invoice["Balance"] == 40 and invoice["SyncToken"] == "1"
    assert invoice["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    assert api.get(f"customer/{customer['Id']}").json()["Customer"]["Balance"] == -50  # 40 open − 90 unapplied
    over = api.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 50,
            "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert api.error(over)["code"] == "6000"
    # deleting an invoice with a payment applied is refused; deleting the payment reopens it
    assert (
        api.error(api.post("invoice", {"Id": inv["Id"], "SyncToken": "1"}, params={"operation": "delete"}))["code"]
        == "6000"
    )
    deleted = api.post("payment", {"Id": pay["Id"], "SyncToken": "0"}, params={"operation": "delete"}).json()
    assert deleted["Payment"] == {"status": "Deleted", "domain": "QBO", "Id": pay["Id"]}
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["Balance"] == 100


def test_full_and_sparse_update_recompute_totals(api, customer):
    inv = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(10)]})
    sparse = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "hi"}).json()
    assert sparse["Invoice"]["TotalAmt"] == 10 and sparse["Invoice"]["PrivateNote"] == "hi"
    full = api.post(
        "invoice",
        {
            "Id": inv["Id"],
            "SyncToken": "1",
            "CustomerRef": {"value": customer["Id"]},
            "Line": [api.line(20), api.line(5)],
        },
    ).json()["Invoice"]
    assert full["TotalAmt"] == 25 and full["Balance"] == 25 and "PrivateNote" not in full
    assert full["DocNumber"] == inv["DocNumber"]
    stale = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert api.error(stale)["code"] == "5010"


def test_delete_transaction(api, customer):
    est = api.create("Estimate", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5)]})
    stale = api.post("estimate", {"Id": est["Id"], "SyncToken": "9"}, params={"operation": "delete"})
    assert api.error(stale)["code"] == "5010"
    resp = api.post("estimate", {"Id": est["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert resp.json()["Estimate"] == {"status": "Deleted", "domain": "QBO", "Id": est["Id"]}
    assert api.error(api.get(f"estimate/{est['Id']}"))["code"] == "610"


def test_void_invoice(api, customer):
    inv = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "PrivateNote": "n", "Line": [api.line(10)]})
    voided = api.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "void"}).json()["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["SyncToken"] == "1"
    assert voided["PrivateNote"].startswith("Voided")
    assert all(ln["Amount"] == 0 for ln in voided["Line"])


@pytest.mark.parametrize("entity", ["Payment", "SalesReceipt", "CreditMemo", "RefundReceipt"])
def test_void_with_include_void(api, customer, entity):
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(10)]}
    if entity == "Payment":
        body = {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": 10}
    txn = api.create(entity, body)
    resp = api.post(
        entity.lower(),
        {"Id": txn["Id"], "SyncToken": "0", "sparse": True},
        params={"operation": "update", "include": "void"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()[entity]["TotalAmt"] == 0 and resp.json()[entity]["PrivateNote"] == "Voided"


def test_voiding_payment_reopens_invoice(api, customer):
    inv = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(30)]})
    pay = api.create(
        "Payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 30,
            "Line": [{"Amount": 30, "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["Balance"] == 0
    api.post(
        "payment",
        {"Id": pay["Id"], "SyncToken": "0", "sparse": True},
        params={"operation": "update", "include": "void"},
    )
    assert api.get(f"invoice/{inv['Id']}").json()["Invoice"]["Balance"] == 30


def test_estimate_cannot_be_voided_and_status(api, customer):
    est = api.create("Estimate", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(5)]})
    assert est["TxnStatus"] == "Pending"
    resp = api.post(
        "estimate",
        {"Id": est["Id"], "SyncToken": "0", "sparse": True},
        params={"operation": "update", "include": "void"},
    )
    assert resp.status_code == 400
    accepted = api.post("estimate", {"Id": est["Id"], "SyncToken": "0", "sparse": True, "TxnStatus": "Accepted"})
    assert accepted.json()["Estimate"]["TxnStatus"] == "Accepted"
    bad = api.post("estimate", {"Id": est["Id"], "SyncToken": "1", "sparse": True, "TxnStatus": "Maybe"})
    assert api.error(bad)["code"] == "2170"


def test_credit_memo_remaining_credit(api, customer):
    memo = api.create("CreditMemo", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(12.5)]})
    assert memo["RemainingCredit"] == 12.5 and memo["TotalAmt"] == 12.5


def test_pdf_is_a_valid_document(api, customer):
    inv = api.create(
        "Invoice",
        {"CustomerRef": {"value": customer["Id"]}, "Line": [dict(api.line(42), Description="Consulting (March)")]},
    )
    resp = api.session.get(api.url(f"invoice/{inv['Id']}/pdf"), headers=api.headers({"Accept": "application/pdf"}))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    data = resp.content
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"1001" in data and b"Txn Customer" in data and b"42.00" in data and b"Consulting \\(March\\)" in data
    startxref = int(data.rsplit(b"startxref", 1)[1].split()[0])
    assert data[startxref : startxref + 4] == b"xref"
    table = data[startxref:].split(b"\n")
    count = int(table[1].split()[1])
    for index in range(1, count):
        offset = int(table[2 + index].split()[0])
        assert data[offset:].startswith(f"{index} 0 obj".encode())
    assert api.error(api.get("invoice/999/pdf"))["code"] == "610"


def test_send_marks_email_sent(api, customer):
    inv = api.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [api.line(1)]})
    resp = api.post(
        f"invoice/{inv['Id']}/send",
        None,
        params={"sendTo": "billing@example.com"},
        headers={"Content-Type": "application/octet-stream"},
    )
    sent = resp.json()["Invoice"]
    assert sent["EmailStatus"] == "EmailSent" and sent["DeliveryInfo"]["DeliveryType"] == "Email"
    assert sent["BillEmail"] == {"Address": "billing@example.com"} and sent["SyncToken"] == "1"


def test_python_send_pdf_void_delete(emulator, realm, customer):
    inv = emulator.store.create(
        realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"Amount": 9, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
        },
    )
    assert emulator.store.send(realm, "Invoice", inv["Id"])["EmailStatus"] == "EmailSent"
    assert emulator.store.pdf(realm, "Invoice", inv["Id"]).startswith(b"%PDF-")
    voided = emulator.store.void(realm, "Invoice", inv["Id"], "1")
    assert voided["TotalAmt"] == 0
    assert emulator.store.delete(realm, "Invoice", inv["Id"], "2")["status"] == "Deleted"
    assert [e.operation for e in emulator.webhooks.events if e.entity == "Invoice"] == [
        "Create",
        "Emailed",
        "Void",
        "Delete",
    ]
