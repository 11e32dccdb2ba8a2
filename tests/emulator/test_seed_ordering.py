"""Seeded history is in order for every seed: the company, then a customer, then its documents.

A job (sub-customer) used to be created the day before its first document
even when that came before its parent's creation, so replaying it crashed on
the missing parent (seeds 1, 9, 56, 73 of a small company; 0, 8, 55, 72 of
the demo). And seeding a company that already existed left its
``CompanyStartDate`` (the day it was created, "now") after all of its history.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from flask_qbo.emulator import Emulator
from flask_qbo.emulator import EmulatorConfig
from flask_qbo.emulator.seed import DEMO_REALM
from flask_qbo.emulator.seed import TRANSACTION_TYPES
from flask_qbo.emulator.seed import seed_company
from flask_qbo.emulator.seed import seed_demo

EXISTING_REALM = "4620816365000000777"


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp)


def assert_history_in_order(emu: Emulator, realm: str) -> None:
    """CompanyStartDate, then each customer (a parent before its jobs), then that customer's documents."""
    info = emu.store.read(realm, "CompanyInfo", realm)
    opened = dt.date.fromisoformat(info["CompanyStartDate"])
    assert _when(info["MetaData"]["CreateTime"]).date() == opened
    customers = {c["Id"]: c for c in emu.store.list(realm, "Customer", include_inactive=True)}
    created = {key: _when(c["MetaData"]["CreateTime"]) for key, c in customers.items()}
    assert opened < min(created.values()).date()
    for key, customer in customers.items():
        parent = customer.get("ParentRef")
        if parent:
            assert created[parent["value"]] < created[key], f"job {key} created before its parent"
    first: dict[str, dt.datetime] = {}
    for entity in TRANSACTION_TYPES:
        for row in emu.store.list(realm, entity, include_inactive=True):
            when = _when(row["MetaData"]["CreateTime"])
            assert opened < when.date(), (entity, row["Id"])
            owner = row["CustomerRef"]["value"]
            first[owner] = min(first.get(owner, when), when)
    for key, when in first.items():
        assert created[key] < when, f"customer {key} created after its first document"
        parent = customers[key].get("ParentRef")
        if parent:
            assert created[parent["value"]] < when, f"parent of {key} created after the job's first document"


@pytest.mark.parametrize("seed", range(81))
def test_a_small_company_seeds_in_order_whatever_the_seed(seed: int) -> None:
    emu = Emulator(EmulatorConfig())
    seed_company(emu, DEMO_REALM, "Small Co", seed=seed, customers=12, years=1, txns_per_customer=6)
    assert_history_in_order(emu, DEMO_REALM)


@pytest.mark.parametrize("seed", [0, 8])
def test_the_demo_seeds_in_order_for_seeds_that_used_to_crash(seed: int) -> None:
    emu = Emulator(EmulatorConfig())
    seed_demo(emu, seed=seed)
    for realm, _name in emu.store.companies():
        assert_history_in_order(emu, realm)


def test_seeding_an_existing_company_moves_its_opening_back_before_the_history() -> None:
    emu = Emulator(EmulatorConfig())
    emu.add_company(EXISTING_REALM, "Already Here")
    seed_company(emu, EXISTING_REALM, customers=4, years=1, txns_per_customer=8)
    assert_history_in_order(emu, EXISTING_REALM)
    info = emu.store.read(EXISTING_REALM, "CompanyInfo", EXISTING_REALM)
    opened = _when(info["MetaData"]["CreateTime"])
    invoices = emu.store.list(EXISTING_REALM, "Invoice")
    assert invoices
    term: dict[str, t.Any] = emu.store.read(EXISTING_REALM, "Term", "1")  # created with the company
    assert _when(term["MetaData"]["CreateTime"]) == opened
    assert _when(term["MetaData"]["LastUpdatedTime"]) == opened
    assert opened < min(_when(i["MetaData"]["CreateTime"]) for i in invoices)


def test_a_company_with_earlier_data_keeps_its_opening() -> None:
    """Seeding only ever moves the opening back; an already older CompanyStartDate stays."""
    emu = Emulator(EmulatorConfig())
    seed_company(emu, DEMO_REALM, "Old Co", customers=3, years=2, txns_per_customer=2)
    before = emu.store.read(DEMO_REALM, "CompanyInfo", DEMO_REALM)
    seed_company(emu, DEMO_REALM, "Old Co", seed=5, customers=3, years=1, txns_per_customer=2)
    after = emu.store.read(DEMO_REALM, "CompanyInfo", DEMO_REALM)
    assert after["CompanyStartDate"] == before["CompanyStartDate"]
    assert after["MetaData"] == before["MetaData"]


def test_only_the_default_lists_move_back_with_the_opening() -> None:
    """A customer created in the company's first second is real data: its moment is kept."""
    emu = Emulator(EmulatorConfig())
    with emu.clock.pinned(emu.clock.now()):
        emu.add_company(EXISTING_REALM, "Busy Start")
        early = emu.store.create(EXISTING_REALM, "Customer", {"DisplayName": "First Day"})
    seed_company(emu, EXISTING_REALM, customers=3, years=1, txns_per_customer=2)
    info = emu.store.read(EXISTING_REALM, "CompanyInfo", EXISTING_REALM)
    assert _when(info["MetaData"]["CreateTime"]) < _when(early["MetaData"]["CreateTime"])
    assert emu.store.read(EXISTING_REALM, "Customer", early["Id"])["MetaData"] == early["MetaData"]
