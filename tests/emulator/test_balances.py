"""Customer balances from the per-customer index equal a full recomputation, through every kind of write.

The reference below is the emulator's former whole-company pass, kept here as
the oracle: it walks every customer and every balance-moving transaction, so
it cannot be fooled by an index that missed a change.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator.company import Company
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import seed_demo
from flask_qbo.emulator.snapshot import load
from flask_qbo.emulator.snapshot import save


def brute_force(company: Company) -> dict[str, tuple[float, float]]:
    """(Balance, BalanceWithJobs) of every customer by scanning every table."""
    tables = company.tables
    own = {cid: Decimal(str(c.get("_opening", 0))) for cid, c in tables["Customer"].items()}
    for entity, field, sign in (
        ("Invoice", "Balance", 1),
        ("CreditMemo", "RemainingCredit", -1),
        ("Payment", "UnappliedAmt", -1),
    ):
        for txn in tables[entity].values():
            cid = txn["CustomerRef"]["value"]
            if cid in own:
                own[cid] += sign * Decimal(str(txn.get(field) or 0))
    owned = {cid: float(value) for cid, value in own.items()}
    children: dict[str, list[str]] = {}
    for customer in tables["Customer"].values():
        parent = (customer.get("ParentRef") or {}).get("value")
        if parent:
            children.setdefault(parent, []).append(customer["Id"])

    def total(cid: str) -> Decimal:
        return Decimal(str(owned[cid])) + sum((total(child) for child in children.get(cid, [])), Decimal("0"))

    return {cid: (owned[cid], float(total(cid))) for cid in owned}


def assert_balances_match(emulator: Emulator, realm: str = DEMO_REALM) -> None:
    company = emulator.store.company(realm)
    expected = brute_force(company)
    assert expected, "the company has customers"
    single = {cid: company.balance(cid) for cid in company.tables["Customer"]}
    read = {
        cid: (c["Balance"], c["BalanceWithJobs"])
        for cid, c in ((cid, emulator.store.read(realm, "Customer", cid)) for cid in company.tables["Customer"])
    }
    listed = {
        c["Id"]: (c["Balance"], c["BalanceWithJobs"])
        for c in emulator.store.list(realm, "Customer", include_inactive=True)
    }
    assert single == expected
    assert read == expected
    assert listed == expected


@pytest.fixture
def demo(emulator: Emulator) -> Emulator:
    seed_demo(emulator)
    return emulator


def _first(emulator: Emulator, entity: str, **match: Any) -> dict[str, Any]:
    rows = emulator.store.list(DEMO_REALM, entity, include_inactive=True)
    return next(r for r in rows if all(r.get(k) == v for k, v in match.items()))


def test_seeded_demo_company_balances_match_a_full_recomputation(demo: Emulator) -> None:
    company = demo.store.company(DEMO_REALM)
    assert any(c.get("ParentRef") for c in company.tables["Customer"].values())  # jobs roll up
    assert any(b for b, _ in brute_force(company).values())  # not a trivially zero company
    assert_balances_match(demo)


def test_balances_follow_payments_voids_deletes_reparenting_and_merges(demo: Emulator) -> None:
    store = demo.store
    company = store.company(DEMO_REALM)
    invoice = next(i for i in store.list(DEMO_REALM, "Invoice") if i.get("Balance") and not i.get("LinkedTxn"))
    owner = invoice["CustomerRef"]["value"]
    payment = store.create(
        DEMO_REALM,
        "Payment",
        {
            "CustomerRef": {"value": owner},
            "TotalAmt": float(invoice["Balance"]) + 25,
            "Line": [{"Amount": invoice["Balance"], "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert_balances_match(demo)
    store.void(DEMO_REALM, "Payment", payment["Id"], payment["SyncToken"])
    assert_balances_match(demo)
    memo = store.create(
        DEMO_REALM,
        "CreditMemo",
        {
            "CustomerRef": {"value": owner},
            "Line": [
                {"Amount": 40, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    assert_balances_match(demo)
    store.delete(DEMO_REALM, "CreditMemo", memo["Id"], memo["SyncToken"])
    assert_balances_match(demo)

    parents = [cid for cid in company.tables["Customer"] if not company.tables["Customer"][cid].get("ParentRef")]
    job, new_parent = parents[-1], parents[-2]
    current = store.read(DEMO_REALM, "Customer", job)
    store.update(
        DEMO_REALM,
        "Customer",
        {"Id": job, "SyncToken": current["SyncToken"], "Job": True, "ParentRef": {"value": new_parent}},
    )
    assert job in company.descendants(new_parent)
    assert_balances_match(demo)

    with_jobs = next(cid for cid in parents if company.descendants(cid))
    into = next(
        cid for cid in parents if cid not in (with_jobs, job, new_parent) and cid not in company.descendants(with_jobs)
    )
    store.merge_customers(DEMO_REALM, with_jobs, into)
    assert with_jobs not in company.tables["Customer"]
    assert_balances_match(demo)


def test_rows_put_straight_into_the_tables_are_indexed(demo: Emulator, tmp_path: Any) -> None:
    """Snapshot loads and bulk-seeding benchmarks bypass the store; balances must still be right."""
    company = demo.store.company(DEMO_REALM)
    invoice = next(i for i in company.tables["Invoice"].values() if i.get("Balance"))
    customer = next(c for c in company.tables["Customer"].values() if c["Id"] != invoice["CustomerRef"]["value"])
    with demo.store.lock:
        company.tables["Invoice"]["90001"] = dict(invoice, Id="90001", CustomerRef={"value": customer["Id"]})
    assert_balances_match(demo)
    path = tmp_path / "snapshot.json"
    save(demo, path)
    other = Emulator(demo.config)
    load(other, path)
    assert_balances_match(other)


def test_writes_through_the_store_update_the_indexes_without_a_rebuild(
    demo: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create, a reparenting, a delete and a merge each index one row: no pass over the whole company."""
    store = demo.store
    company = store.company(DEMO_REALM)
    company.balance(next(iter(company.tables["Customer"])))  # indexed once, as any first read does
    rebuilds: list[int] = []
    rebuild = Company.reindex
    monkeypatch.setattr(Company, "reindex", lambda self: rebuilds.append(1) or rebuild(self))
    parent = store.create(DEMO_REALM, "Customer", {"DisplayName": "Index Parent"})
    job = store.create(
        DEMO_REALM, "Customer", {"DisplayName": "Index Job", "Job": True, "ParentRef": {"value": parent["Id"]}}
    )
    owner = store.create(DEMO_REALM, "Customer", {"DisplayName": "Index Owner"})
    memo = store.create(
        DEMO_REALM,
        "CreditMemo",
        {
            "CustomerRef": {"value": job["Id"]},
            "Line": [
                {"Amount": 40, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
            ],
        },
    )
    assert job["Id"] in company.descendants(parent["Id"])
    assert_balances_match(demo)
    store.merge_customers(DEMO_REALM, parent["Id"], owner["Id"])
    assert job["Id"] in company.descendants(owner["Id"])
    current = store.read(DEMO_REALM, "CreditMemo", memo["Id"])
    store.delete(DEMO_REALM, "CreditMemo", memo["Id"], current["SyncToken"])
    assert_balances_match(demo)
    assert rebuilds == []
