"""Seed data: realistic, deterministic, consistent, silent; and JSON snapshots."""

from __future__ import annotations

import datetime as dt
import json
import typing as t
from collections import Counter
from pathlib import Path

import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.emulator.entities import ESTIMATE_STATUSES
from flask_qbo.emulator.seed import DEMO_CUSTOMER_EMAILS
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import SECOND_REALM
from flask_qbo.emulator.seed import TRANSACTION_TYPES
from flask_qbo.emulator.seed import seed_company
from flask_qbo.emulator.seed import seed_demo
from flask_qbo.emulator.snapshot import load
from flask_qbo.emulator.snapshot import save

US_STATES = {"CA", "OR", "WA", "ID", "NV", "AZ", "CO", "TX", "WI", "VT"}


@pytest.fixture(scope="module")
def demo() -> Emulator:
    emu = Emulator(EmulatorConfig())
    seed_demo(emu)
    return emu


def without_times(rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    return [{k: v for k, v in row.items() if k != "MetaData"} for row in rows]


def test_two_companies(demo: Emulator) -> None:
    assert demo.store.companies() == [
        (DEMO_REALM, "Craig's Design and Landscaping Services"),
        (SECOND_REALM, "Ocean View Traders"),
    ]
    assert len(demo.store.list(SECOND_REALM, "Customer")) < len(demo.store.list(DEMO_REALM, "Customer"))


def test_customers_look_real(demo: Emulator) -> None:
    customers = demo.store.list(DEMO_REALM, "Customer", include_inactive=True)
    plain = [c for c in customers if not c.get("Job")]
    assert len(plain) >= 30
    assert len({c["DisplayName"] for c in customers}) == len(customers)
    for customer in plain:
        assert "@" in customer["PrimaryEmailAddr"]["Address"]
        assert customer["PrimaryPhone"]["FreeFormNumber"]
        for address in ("BillAddr", "ShipAddr"):
            assert customer[address]["CountrySubDivisionCode"] in US_STATES
            assert customer[address]["PostalCode"].isdigit()
    assert sum(1 for c in plain if c.get("CompanyName")) > len(plain) // 2
    assert sum(1 for c in plain if c.get("Notes")) >= 5
    for ref in ("SalesTermRef", "PaymentMethodRef"):
        assert sum(1 for c in plain if c.get(ref)) > len(plain) * 0.6
    assert Counter(c["PreferredDeliveryMethod"] for c in plain).keys() >= {"Email", "Print"}

    inactive = [c for c in customers if not c["Active"]]
    assert len(inactive) == 1 and inactive[0]["DisplayName"].endswith(" (deleted)")
    jobs = [c for c in customers if c.get("Job")]
    assert len(jobs) == 1
    parent = demo.store.read(DEMO_REALM, "Customer", jobs[0]["ParentRef"]["value"])
    assert jobs[0]["FullyQualifiedName"] == f"{parent['DisplayName']}:{jobs[0]['DisplayName']}"


def test_history_covers_every_kind_of_document(demo: Emulator) -> None:
    now = demo.clock.now().date()
    oldest = now - dt.timedelta(days=2 * 365)
    counts = {entity: demo.store.list(DEMO_REALM, entity) for entity in TRANSACTION_TYPES}
    assert sum(len(rows) for rows in counts.values()) >= 300
    for entity, rows in counts.items():
        assert rows, entity
        for row in rows:
            assert oldest <= dt.date.fromisoformat(row["TxnDate"]) < now, (entity, row["TxnDate"])

    invoices = counts["Invoice"]
    voided = [i for i in invoices if i.get("PrivateNote", "").startswith("Voided")]
    live = [i for i in invoices if i not in voided]
    paid = [i for i in live if i["Balance"] == 0]
    partial = [i for i in live if 0 < i["Balance"] < i["TotalAmt"]]
    overdue = [i for i in live if i["Balance"] > 0 and dt.date.fromisoformat(i["DueDate"]) < now]
    assert voided and paid and partial and overdue
    assert {e["TxnStatus"] for e in counts["Estimate"]} == set(ESTIMATE_STATUSES)
    assert any(r.get("PrivateNote", "").startswith("Voided") for r in counts["SalesReceipt"])

    payments_by_invoice: dict[str, float] = {}
    for payment in counts["Payment"]:
        for line in payment["Line"]:
            for link in line["LinkedTxn"]:
                payments_by_invoice[link["TxnId"]] = payments_by_invoice.get(link["TxnId"], 0) + line["Amount"]
    for invoice in paid:
        assert payments_by_invoice[invoice["Id"]] == pytest.approx(invoice["TotalAmt"])
        assert {link["TxnType"] for link in invoice["LinkedTxn"]} == {"Payment"}


def test_customer_balances_add_up(demo: Emulator) -> None:
    invoices = demo.store.list(DEMO_REALM, "Invoice")
    memos = demo.store.list(DEMO_REALM, "CreditMemo")
    payments = demo.store.list(DEMO_REALM, "Payment")
    for customer in demo.store.list(DEMO_REALM, "Customer", include_inactive=True):
        cid = customer["Id"]
        expected = (
            sum(i["Balance"] for i in invoices if i["CustomerRef"]["value"] == cid)
            - sum(m["RemainingCredit"] for m in memos if m["CustomerRef"]["value"] == cid)
            - sum(p["UnappliedAmt"] for p in payments if p["CustomerRef"]["value"] == cid)
        )
        assert customer["Balance"] == pytest.approx(expected)


def test_same_seed_same_data_and_demo_emails_exist(demo: Emulator) -> None:
    again = Emulator(EmulatorConfig())
    seed_demo(again)
    for entity in ("Customer", *TRANSACTION_TYPES):
        assert without_times(again.store.list(DEMO_REALM, entity, include_inactive=True)) == without_times(
            demo.store.list(DEMO_REALM, entity, include_inactive=True)
        )
    emails = {c["PrimaryEmailAddr"]["Address"] for c in demo.store.list(DEMO_REALM, "Customer")}
    assert DEMO_CUSTOMER_EMAILS and set(DEMO_CUSTOMER_EMAILS) <= emails

    other = Emulator(EmulatorConfig())
    seed_company(other, DEMO_REALM, "Other", seed=7, customers=5, txns_per_customer=2)
    assert {c["DisplayName"] for c in other.store.list(DEMO_REALM, "Customer")} != {
        c["DisplayName"] for c in demo.store.list(DEMO_REALM, "Customer")
    }


def test_customers_were_created_before_their_first_document(demo: Emulator) -> None:
    """ "Customer since" must not read "today" for a customer with two years of invoices."""
    today = demo.clock.now().date()
    customers = demo.store.list(DEMO_REALM, "Customer", include_inactive=True)
    by_id = {c["Id"]: c for c in customers}
    created = {c["Id"]: dt.datetime.fromisoformat(c["MetaData"]["CreateTime"]) for c in customers}
    first: dict[str, dt.date] = {}
    for entity in TRANSACTION_TYPES:
        for row in demo.store.list(DEMO_REALM, entity):
            owner, day = row["CustomerRef"]["value"], dt.date.fromisoformat(row["TxnDate"])
            first[owner] = min(first.get(owner, day), day)
    for customer_id, when in created.items():
        assert when.date() < first.get(customer_id, today), by_id[customer_id]["DisplayName"]
        assert when <= dt.datetime.fromisoformat(by_id[customer_id]["MetaData"]["LastUpdatedTime"])
    assert min(created.values()).date() < today - dt.timedelta(days=365 * 2 - 60)
    assert len({when.date() for when in created.values()}) > len(created) // 2, "not all on one day"
    job = next(c for c in customers if c.get("Job"))
    assert created[job["ParentRef"]["value"]] < created[job["Id"]]

    again = Emulator(EmulatorConfig())
    seed_demo(again)
    assert {
        c["Id"]: c["MetaData"]["CreateTime"][:10]
        for c in again.store.list(DEMO_REALM, "Customer", include_inactive=True)
    } == {k: v.date().isoformat() for k, v in created.items()}


def test_seeding_fires_no_webhooks_but_cdc_sees_it_when_it_happened() -> None:
    emu = Emulator(EmulatorConfig(webhook_url="http://listener.test/hook"))
    seed_company(emu, DEMO_REALM, "Quiet Co", customers=4, txns_per_customer=3)
    status = emu.webhooks.status()
    assert (status["events"], status["pending"]) == (0, 0)
    customers = emu.store.list(DEMO_REALM, "Customer", include_inactive=True)
    assert len(customers) == 5
    recently = emu.clock.now() - dt.timedelta(minutes=5)
    assert emu.store.cdc(DEMO_REALM, ["Customer"], recently)["CDCResponse"][0]["QueryResponse"] == [{}]
    oldest = min(dt.datetime.fromisoformat(c["MetaData"]["CreateTime"]) for c in customers)
    history = emu.store.cdc(DEMO_REALM, ["Customer"], oldest)["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert {c["Id"] for c in history} == {c["Id"] for c in customers}
    emu.store.create(DEMO_REALM, "Customer", {"DisplayName": "After Seeding"})
    assert emu.webhooks.status()["events"] == 1
    fresh = emu.store.cdc(DEMO_REALM, ["Customer"], recently)["CDCResponse"][0]["QueryResponse"][0]["Customer"]
    assert [c["DisplayName"] for c in fresh] == ["After Seeding"]


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def test_seeded_metadata_tells_the_same_story_as_the_dates(demo: Emulator) -> None:
    """Issue 15 (7): seed data is back-dated history, not hundreds of records changed "now"."""
    now = demo.clock.now()
    for realm in (DEMO_REALM, SECOND_REALM):
        rows = {entity: demo.store.list(realm, entity, include_inactive=True) for entity in TRANSACTION_TYPES}
        for entity, documents in rows.items():
            for row in documents:
                created, updated = _when(row["MetaData"]["CreateTime"]), _when(row["MetaData"]["LastUpdatedTime"])
                assert created.date().isoformat() == row["TxnDate"], (entity, row["Id"])
                assert created <= updated and updated.date() < now.date(), (entity, row["Id"])
        payments = {p["Id"]: p for p in rows["Payment"]}
        paid = [i for i in rows["Invoice"] if i["LinkedTxn"]]
        assert paid
        for invoice in paid:  # an invoice last changed when its last payment was applied
            last_payment = max(
                _when(payments[link["TxnId"]]["MetaData"]["CreateTime"]) for link in invoice["LinkedTxn"]
            )
            assert _when(invoice["MetaData"]["LastUpdatedTime"]) == last_payment
        customers = demo.store.list(realm, "Customer", include_inactive=True)
        inactive = [c for c in customers if not c["Active"]]
        assert inactive and all(
            _when(c["MetaData"]["CreateTime"]) < _when(c["MetaData"]["LastUpdatedTime"]) < now - dt.timedelta(days=1)
            for c in inactive
        )
        info = demo.store.read(realm, "CompanyInfo", realm)
        opened = dt.date.fromisoformat(info["CompanyStartDate"])
        assert _when(info["MetaData"]["CreateTime"]).date() == opened
        assert opened < min(_when(c["MetaData"]["CreateTime"]).date() for c in customers)
        assert _when(demo.store.read(realm, "Term", "1")["MetaData"]["CreateTime"]).date() == opened


def test_cdc_since_yesterday_on_a_fresh_seed_answers_only_recent_changes(demo: Emulator) -> None:
    """Before issue 15 this answered every seeded record (about 150 two-year-old invoices among them)."""
    entities = ("Customer", *TRANSACTION_TYPES)
    since = demo.clock.now() - dt.timedelta(days=1)
    token = demo.issue_tokens(DEMO_REALM)["access_token"]
    response = demo.http_session().get(
        f"{demo.config.base_url}/v3/company/{DEMO_REALM}/cdc",
        params={"entities": ",".join(entities), "changedSince": since.isoformat(timespec="seconds")},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    assert response.status_code == 200
    answered = {
        (entity, row["Id"])
        for group in response.json()["CDCResponse"][0]["QueryResponse"]
        for entity, rows in group.items()
        if isinstance(rows, list)
        for row in rows
    }
    recent = {
        (entity, row["Id"])
        for entity in entities
        for row in demo.store.list(DEMO_REALM, entity, include_inactive=True)
        if _when(row["MetaData"]["LastUpdatedTime"]) >= since
    }
    assert answered == recent  # what changed since yesterday, by the records' own dates
    assert len(answered) < 25  # the seed's last day at most, not its two years


def test_unknown_catalogue_is_refused() -> None:
    with pytest.raises(ValueError, match="catalogue"):
        seed_company(Emulator(EmulatorConfig()), catalogue="bakery")


def test_save_and_load_round_trip(demo: Emulator, tmp_path: Path) -> None:
    source = Emulator(EmulatorConfig())
    seed_company(source, DEMO_REALM, "Round Trip", customers=6, txns_per_customer=4)
    invoice = source.store.list(DEMO_REALM, "Estimate")[0]
    source.store.delete(DEMO_REALM, "Estimate", invoice["Id"], invoice["SyncToken"])
    path = tmp_path / "qbo.json"
    save(source, path)
    assert json.loads(path.read_text())["format"] == "flask-qbo-emulator"

    restored = Emulator(EmulatorConfig())
    load(restored, path)
    assert restored.store.companies() == [(DEMO_REALM, "Round Trip")]
    for entity in ("Customer", "Term", "PaymentMethod", *TRANSACTION_TYPES):
        assert restored.store.list(DEMO_REALM, entity, include_inactive=True) == source.store.list(
            DEMO_REALM, entity, include_inactive=True
        )
    active = restored.store.list(DEMO_REALM, "Customer")[0]
    fresh = restored.store.create(
        DEMO_REALM, "Estimate", {"CustomerRef": {"value": active["Id"]}, "Line": [{"Amount": 5}]}
    )
    assert int(fresh["Id"]) > int(invoice["Id"])
    since = restored.clock.now() - dt.timedelta(minutes=5)
    deleted = restored.store.cdc(DEMO_REALM, ["Estimate"], since)["CDCResponse"][0]["QueryResponse"][0]["Estimate"]
    assert any(row.get("status") == "Deleted" and row["Id"] == invoice["Id"] for row in deleted)

    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="snapshot"):
        load(restored, tmp_path / "other.json")


def test_the_demo_company_takes_online_payments_so_open_emailed_invoices_have_a_pay_link(demo: Emulator) -> None:
    """The CRM offers "Copy payment link" only where QuickBooks gives one: the demo company must allow it."""
    token = demo.issue_tokens(DEMO_REALM)["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    base = f"{demo.config.base_url}/v3/company/{DEMO_REALM}"
    prefs = demo.http_session().get(f"{base}/preferences", headers=headers).json()["Preferences"]
    assert prefs["SalesFormsPrefs"]["ETransactionPaymentEnabled"] is True
    invoice = next(
        row
        for row in demo.store.list(DEMO_REALM, "Invoice")
        if row.get("Balance", 0) > 0 and (row.get("BillEmail") or {}).get("Address")
    )
    read = demo.http_session().get(
        f"{base}/invoice/{invoice['Id']}", params={"include": "invoiceLink"}, headers=headers
    )
    assert read.json()["Invoice"]["InvoiceLink"].startswith("http")
