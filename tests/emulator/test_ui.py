"""The emulator's web UI at QBO's deep-link paths, driven through Flask's test client."""

from __future__ import annotations

import re
import typing as t

import pytest
from flask.testing import FlaskClient

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.emulator import EmulatorFault
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import SECOND_REALM
from flask_qbo.emulator.seed import seed_demo

REALM = DEMO_REALM


@pytest.fixture
def emu() -> Emulator:
    emulator = Emulator(EmulatorConfig())
    seed_demo(emulator)
    return emulator


@pytest.fixture
def client(emu: Emulator) -> FlaskClient:
    return emu.app.test_client()


def csrf(client: FlaskClient) -> str:
    page = client.get("/app/customer/new").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "form pages carry a CSRF token"
    return match.group(1)


def active_customer(emu: Emulator, with_open_invoice: bool = False) -> dict[str, t.Any]:
    """A plain (non-job) active customer, optionally one that owes money."""
    invoices = emu.store.list(REALM, "Invoice")
    for customer in emu.store.list(REALM, "Customer"):
        if customer.get("Job"):
            continue
        owes = any(i["CustomerRef"]["value"] == customer["Id"] and i["Balance"] > 0 for i in invoices)
        if owes or not with_open_invoice:
            return customer
    raise AssertionError("seed has no suitable customer")


def post_customer(client: FlaskClient, customer_id: str, data: dict[str, str]) -> t.Any:
    return client.post(f"/app/customerdetail?nameId={customer_id}", data={"csrf_token": csrf(client), **data})


def edit_form(client: FlaskClient, customer_id: str) -> dict[str, str]:
    """The edit form's current values, as a browser would submit them."""
    page = client.get(f"/app/customerdetail?nameId={customer_id}").get_data(as_text=True)
    form = page[page.index('data-testid="customer-form"') :]
    values = dict(re.findall(r'<input id="[^"]*" name="([^"]+)" type="[^"]+" value="([^"]*)"', form))
    values["SyncToken"] = re.search(r'name="SyncToken" value="(\d+)"', form).group(1)  # type: ignore[union-attr]
    values["action"] = "save"
    return values


# -- lists, switching and validation -------------------------------------------------


def test_customer_list_filters_and_searches(client: FlaskClient, emu: Emulator) -> None:
    page = client.get("/app/customers").get_data(as_text=True)
    assert "QuickBooks Online emulator" in page
    active = emu.store.list(REALM, "Customer")
    assert page.count('data-testid="customer-row"') == len(active)
    assert "(deleted)" not in page

    inactive = client.get("/app/customers?status=inactive").get_data(as_text=True)
    assert inactive.count('data-testid="customer-row"') == 1
    assert "(deleted)" in inactive

    target = active[3]
    email = target["PrimaryEmailAddr"]["Address"]
    found = client.get("/app/customers", query_string={"q": email.upper(), "status": "all"})
    rows = re.findall(r'data-testid="customer-row" data-id="(\d+)"', found.get_data(as_text=True))
    assert rows == [target["Id"]]
    assert f"/app/customerdetail?nameId={target['Id']}" in found.get_data(as_text=True)


def test_company_switcher_is_remembered_in_the_session(client: FlaskClient, emu: Emulator) -> None:
    second = {c["DisplayName"] for c in emu.store.list(SECOND_REALM, "Customer")}
    page = client.get(f"/app/customers?companyId={SECOND_REALM}").get_data(as_text=True)
    assert "Ocean View Traders" in page
    some = sorted(second)[0]
    assert some.replace("'", "&#39;") in page
    again = client.get("/app/customers").get_data(as_text=True)
    assert again.count('data-testid="customer-row"') == len(second)
    assert f'value="{SECOND_REALM}" selected' in again


@pytest.mark.parametrize(
    "url",
    [
        "/app/customerdetail?nameId=abc",
        "/app/customerdetail?nameId=1%20OR%201=1",
        "/app/customerdetail",
        "/app/customerdetail?nameId=99999",
        "/app/invoice?txnId=-1",
        "/app/recvpayment?txnId=99999",
        "/app/estimate?txnId=",
        "/app/customers?companyId=12ab",
        "/app/customers?companyId=123",
    ],
)
def test_bad_ids_answer_a_404_page(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert 'data-testid="error-page"' in response.get_data(as_text=True)


def test_every_deep_link_page_renders_seeded_documents(client: FlaskClient, emu: Emulator) -> None:
    pages = {
        "invoice": "Invoice",
        "recvpayment": "Payment",
        "estimate": "Estimate",
        "salesreceipt": "SalesReceipt",
        "creditmemo": "CreditMemo",
        "refundreceipt": "RefundReceipt",
    }
    for page, entity in pages.items():
        txn = emu.store.list(REALM, entity)[-1]
        html = client.get(f"/app/{page}?txnId={txn['Id']}").get_data(as_text=True)
        total = f"${txn['TotalAmt']:,.2f}"
        assert total in html, (page, total)
        assert f"/app/customerdetail?nameId={txn['CustomerRef']['value']}" in html
        assert ('data-testid="txn-unapplied"' in html) == (entity == "Payment")
        assert html.count('data-testid="txn-line"') == len(
            [line for line in txn["Line"] if line.get("DetailType") != "SubTotalLineDetail"]
        )


def test_customer_page_shows_fields_balance_and_transactions(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu, with_open_invoice=True)
    html = client.get(f"/app/customerdetail?nameId={customer['Id']}").get_data(as_text=True)
    assert customer["PrimaryEmailAddr"]["Address"] in html
    assert customer["BillAddr"]["City"] in html
    assert f'data-testid="customer-balance">${customer["Balance"]:,.2f}' in html
    mine = [
        txn
        for entity in ("Invoice", "Payment", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt")
        for txn in emu.store.list(REALM, entity)
        if txn["CustomerRef"]["value"] == customer["Id"]
    ]
    assert html.count('data-testid="txn-row"') == len(mine)
    invoice = next(t for t in mine if "DueDate" in t)
    assert f'href="/app/invoice?txnId={invoice["Id"]}&amp;companyId={REALM}"' in html


def test_values_are_escaped(client: FlaskClient, emu: Emulator) -> None:
    evil = emu.store.create(
        REALM, "Customer", {"DisplayName": "<b>Bold</b> & Co", "Notes": "<script>alert(1)</script>"}
    )
    html = client.get(f"/app/customerdetail?nameId={evil['Id']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in html


# -- customer edits ----------------------------------------------------------------


def test_edit_saves_a_sparse_update(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu)
    form = edit_form(client, customer["Id"])
    form.update({"GivenName": "Zelda", "BillAddr.City": "Eugene", "Notes": "Call after 5pm"})
    response = post_customer(client, customer["Id"], form)
    assert response.status_code == 302
    saved = emu.store.read(REALM, "Customer", customer["Id"])
    assert saved["GivenName"] == "Zelda"
    assert saved["BillAddr"]["City"] == "Eugene"
    assert saved["Notes"] == "Call after 5pm"
    assert saved["FamilyName"] == customer["FamilyName"]
    assert saved["PrimaryEmailAddr"] == customer["PrimaryEmailAddr"]
    assert int(saved["SyncToken"]) == int(customer["SyncToken"]) + 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Customer saved." in page


def test_stale_synctoken_shows_intuits_message_and_keeps_input(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu)
    form = edit_form(client, customer["Id"])
    emu.store.update(REALM, "Customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "Notes": "API edit"})
    form["GivenName"] = "Typed By Hand"
    response = post_customer(client, customer["Id"], form)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'data-code="5010"' in html
    assert "Stale Object Error" in html
    assert 'value="Typed By Hand"' in html
    assert emu.store.read(REALM, "Customer", customer["Id"])["GivenName"] == customer["GivenName"]


def test_duplicate_display_name_is_reported(client: FlaskClient, emu: Emulator) -> None:
    first, second = [c for c in emu.store.list(REALM, "Customer") if not c.get("Job")][:2]
    form = edit_form(client, second["Id"])
    form["DisplayName"] = first["DisplayName"]
    html = post_customer(client, second["Id"], form).get_data(as_text=True)
    assert 'data-code="6240"' in html
    assert "Another customer, vendor or employee is already using this name" in html


def test_post_without_csrf_token_is_rejected(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu)
    form = edit_form(client, customer["Id"])
    form["GivenName"] = "Forged"
    response = client.post(f"/app/customerdetail?nameId={customer['Id']}", data=form)
    assert response.status_code == 400
    forged = dict(form, csrf_token="not-the-token")
    assert client.post(f"/app/customerdetail?nameId={customer['Id']}", data=forged).status_code == 400
    assert emu.store.read(REALM, "Customer", customer["Id"])["GivenName"] != "Forged"


def test_make_inactive_and_reactivate(client: FlaskClient, emu: Emulator) -> None:
    customer = emu.store.create(REALM, "Customer", {"DisplayName": "Short Lived LLC"})
    post_customer(client, customer["Id"], {"action": "deactivate", "SyncToken": customer["SyncToken"]})
    gone = emu.store.read(REALM, "Customer", customer["Id"])
    assert gone["Active"] is False
    assert gone["DisplayName"] == "Short Lived LLC (deleted)"
    html = client.get(f"/app/customerdetail?nameId={customer['Id']}").get_data(as_text=True)
    assert 'data-testid="reactivate-customer"' in html
    post_customer(client, customer["Id"], {"action": "reactivate", "SyncToken": gone["SyncToken"]})
    back = emu.store.read(REALM, "Customer", customer["Id"])
    assert back["Active"] is True
    assert back["DisplayName"] == "Short Lived LLC"


def test_merge_moves_transactions_to_the_survivor(client: FlaskClient, emu: Emulator) -> None:
    source = active_customer(emu, with_open_invoice=True)
    target = emu.store.create(REALM, "Customer", {"DisplayName": "Survivor Inc"})
    moved = [i["Id"] for i in emu.store.list(REALM, "Invoice") if i["CustomerRef"]["value"] == source["Id"]]
    response = post_customer(client, source["Id"], {"action": "merge", "into": target["Id"]})
    assert response.status_code == 302
    assert f"nameId={target['Id']}" in response.headers["Location"]
    with pytest.raises(EmulatorFault):
        emu.store.read(REALM, "Customer", source["Id"])
    for invoice_id in moved:
        assert emu.store.read(REALM, "Invoice", invoice_id)["CustomerRef"]["value"] == target["Id"]
    bad = post_customer(client, target["Id"], {"action": "merge", "into": ""})
    assert bad.status_code == 400
    assert "Choose a customer to merge into." in bad.get_data(as_text=True)


def test_new_customer_form(client: FlaskClient, emu: Emulator) -> None:
    token = csrf(client)
    empty = client.post("/app/customer/new", data={"csrf_token": token, "Notes": "kept"})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 400
    assert 'data-code="6080"' in html
    assert "kept</textarea>" in html

    response = client.post(
        "/app/customer/new",
        data={
            "csrf_token": token,
            "GivenName": "Ada",
            "FamilyName": "Lovelace",
            "PrimaryEmailAddr": "ada@example.org",
            "BillAddr.City": "London",
            "SalesTermRef": "3",
            "PreferredDeliveryMethod": "Email",
        },
    )
    assert response.status_code == 302
    created = next(c for c in emu.store.list(REALM, "Customer") if c["DisplayName"] == "Ada Lovelace")
    assert created["PrimaryEmailAddr"]["Address"] == "ada@example.org"
    assert created["BillAddr"]["City"] == "London"
    assert created["SalesTermRef"]["value"] == "3"
    assert created["PreferredDeliveryMethod"] == "Email"
    assert "ShipAddr" not in created

    bad_email = client.post(
        "/app/customer/new", data={"csrf_token": token, "DisplayName": "Bad Mail", "PrimaryEmailAddr": "nope"}
    )
    assert bad_email.status_code == 400
    assert 'value="nope"' in bad_email.get_data(as_text=True)


# -- documents -----------------------------------------------------------------------


def test_create_invoice_uses_terms_for_the_due_date(client: FlaskClient, emu: Emulator) -> None:
    customer = emu.store.create(REALM, "Customer", {"DisplayName": "Invoice Me"})
    response = post_customer(
        client,
        customer["Id"],
        {
            "action": "invoice",
            "Description": "Hedge trimming",
            "Amount": "1,250.50",
            "TxnDate": "2025-03-01",
            "SalesTermRef": "3",
        },
    )
    assert response.status_code == 302
    assert "/app/invoice?txnId=" in response.headers["Location"]
    invoice = [i for i in emu.store.list(REALM, "Invoice") if i["CustomerRef"]["value"] == customer["Id"]][0]
    assert invoice["TotalAmt"] == 1250.5
    assert invoice["DueDate"] == "2025-03-31"
    assert invoice["Line"][0]["Description"] == "Hedge trimming"
    assert emu.store.read(REALM, "Customer", customer["Id"])["Balance"] == 1250.5


def test_invalid_amount_keeps_the_form(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu)
    response = post_customer(
        client, customer["Id"], {"action": "invoice", "Description": "Keep me", "Amount": "12.345"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "at most two decimals" in html
    assert 'value="Keep me"' in html


def test_payment_applies_to_oldest_open_invoices(client: FlaskClient, emu: Emulator) -> None:
    customer = emu.store.create(REALM, "Customer", {"DisplayName": "Pays Late"})
    ref = {"value": customer["Id"]}
    line = [{"Amount": 100, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]
    old = emu.store.create(REALM, "Invoice", {"CustomerRef": ref, "TxnDate": "2025-01-01", "Line": line})
    new = emu.store.create(REALM, "Invoice", {"CustomerRef": ref, "TxnDate": "2025-02-01", "Line": line})
    response = post_customer(client, customer["Id"], {"action": "payment", "TotalAmt": "150"})
    assert response.status_code == 302
    assert emu.store.read(REALM, "Invoice", old["Id"])["Balance"] == 0
    assert emu.store.read(REALM, "Invoice", new["Id"])["Balance"] == 50
    payment_id = response.headers["Location"].split("txnId=")[1].split("&")[0]
    page = client.get(f"/app/recvpayment?txnId={payment_id}").get_data(as_text=True)
    assert f"/app/invoice?txnId={old['Id']}" in page

    explicit = post_customer(
        client, customer["Id"], {"action": "payment", "TotalAmt": "30", f"apply-{new['Id']}": "20"}
    )
    assert explicit.status_code == 302
    assert emu.store.read(REALM, "Invoice", new["Id"])["Balance"] == 30
    too_much = post_customer(client, customer["Id"], {"action": "payment", "TotalAmt": "5", f"apply-{new['Id']}": "20"})
    assert too_much.status_code == 400
    assert "Applied amounts exceed the payment." in too_much.get_data(as_text=True)


def test_payment_applied_to_a_non_ascii_invoice_id_is_refused(client: FlaskClient, emu: Emulator) -> None:
    """``"\u00b2".isdigit()`` is true; the form must still name it as no invoice id."""
    customer = emu.store.create(REALM, "Customer", {"DisplayName": "Odd Payer"})
    payments = len(emu.store.list(REALM, "Payment"))
    response = post_customer(client, customer["Id"], {"action": "payment", "TotalAmt": "5", "apply-\u00b2": "5"})
    assert response.status_code == 400
    assert "is not an invoice id" in response.get_data(as_text=True)
    assert len(emu.store.list(REALM, "Payment")) == payments


def test_estimate_create_and_status_change(client: FlaskClient, emu: Emulator) -> None:
    customer = active_customer(emu)
    response = post_customer(client, customer["Id"], {"action": "estimate", "Amount": "980", "TxnStatus": "Pending"})
    url = response.headers["Location"]
    estimate_id = url.split("txnId=")[1].split("&")[0]
    estimate = emu.store.read(REALM, "Estimate", estimate_id)
    assert estimate["TotalAmt"] == 980 and estimate["TxnStatus"] == "Pending"
    client.post(url, data={"csrf_token": csrf(client), "action": "status", "TxnStatus": "Accepted", "SyncToken": "0"})
    assert emu.store.read(REALM, "Estimate", estimate_id)["TxnStatus"] == "Accepted"
    html = client.get(url).get_data(as_text=True)
    assert 'data-testid="txn-status">Accepted' in html
    assert 'data-testid="void-txn"' not in html


def test_void_and_delete_from_document_pages(client: FlaskClient, emu: Emulator) -> None:
    customer = emu.store.create(REALM, "Customer", {"DisplayName": "Void Tester"})
    ref = {"value": customer["Id"]}
    line = [{"Amount": 75, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]
    invoice = emu.store.create(REALM, "Invoice", {"CustomerRef": ref, "Line": line})
    page = client.get(f"/app/invoice?txnId={invoice['Id']}").get_data(as_text=True)
    assert 'data-testid="void-txn"' in page and 'data-testid="txn-status">Open' in page

    client.post(
        f"/app/invoice?txnId={invoice['Id']}",
        data={"csrf_token": csrf(client), "action": "void", "SyncToken": invoice["SyncToken"]},
    )
    voided = emu.store.read(REALM, "Invoice", invoice["Id"])
    assert voided["TotalAmt"] == 0
    html = client.get(f"/app/invoice?txnId={invoice['Id']}").get_data(as_text=True)
    assert 'data-testid="txn-status">Voided' in html
    assert 'data-testid="void-txn"' not in html

    paid = emu.store.create(REALM, "Invoice", {"CustomerRef": ref, "Line": line})
    emu.store.create(
        REALM,
        "Payment",
        {
            "CustomerRef": ref,
            "TotalAmt": 75,
            "Line": [{"Amount": 75, "LinkedTxn": [{"TxnId": paid["Id"], "TxnType": "Invoice"}]}],
        },
    )
    paid = emu.store.read(REALM, "Invoice", paid["Id"])
    refused = client.post(
        f"/app/invoice?txnId={paid['Id']}",
        data={"csrf_token": csrf(client), "action": "delete", "SyncToken": paid["SyncToken"]},
    )
    assert refused.status_code == 400
    assert 'data-testid="fault"' in refused.get_data(as_text=True)

    deleted = client.post(
        f"/app/invoice?txnId={invoice['Id']}",
        data={"csrf_token": csrf(client), "action": "delete", "SyncToken": voided["SyncToken"]},
    )
    assert deleted.status_code == 302
    assert f"nameId={customer['Id']}" in deleted.headers["Location"]
    with pytest.raises(EmulatorFault):
        emu.store.read(REALM, "Invoice", invoice["Id"])
