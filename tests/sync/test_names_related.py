"""A one-``name`` host with addresses in a related table: names split and joined, related rows captured.

Runs the push and pull engines against the in-process emulator with
:mod:`tests.sync.onename`, whose contact is shaped unlike the demo's.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import Field
from flask_qbo import FieldMap
from flask_qbo import get_qbo
from flask_qbo.connection import health
from flask_qbo.importing import apply as import_apply
from flask_qbo.importing import fetch
from flask_qbo.importing import matching
from flask_qbo.importing import review
from flask_qbo.models import Outbox
from flask_qbo.sync.pull import pull as pull_mod
from flask_qbo.sync.pull.reconcile import reconcile
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from tests.sync.onename import FIELDS
from tests.sync.onename import Address
from tests.sync.onename import Person
from tests.sync.onename import db
from tests.sync.onename import make_app


@pytest.fixture
def host(tmp_path: t.Any, emulator: t.Any) -> t.Iterator[t.Any]:
    app = make_app(f"sqlite:///{tmp_path / 'onename.sqlite'}")
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    with app.app_context():
        yield app


def customers(emulator: t.Any) -> list[dict[str, t.Any]]:
    return emulator.store.list(TEST_REALM, "Customer", include_inactive=True)


def drain() -> None:
    while push.process(get_qbo()) > 0:
        pass


def pending() -> list[tuple[str, str]]:
    return [(o.contact_key, o.op) for o in db.session.query(Outbox).filter_by(status="pending")]


def add_person(name: str = "Ann Marie Lee", **kw: t.Any) -> Person:
    person = Person(name=name, email="ann@example.com", **kw)
    person.addresses.append(Address(kind="billing", street="1 Main St", city="Springfield"))
    db.session.add(person)
    db.session.commit()
    return person


def test_one_name_fills_given_family_and_display_name(host: t.Any, emulator: t.Any) -> None:
    add_person()
    drain()
    [cust] = customers(emulator)
    assert (cust["GivenName"], cust["FamilyName"], cust["DisplayName"]) == ("Ann Marie", "Lee", "Ann Marie Lee")
    assert cust["BillAddr"]["Line1"] == "1 Main St" and cust["BillAddr"]["City"] == "Springfield"


def test_renaming_the_contact_renames_the_customer_and_keeps_it_unique(host: t.Any, emulator: t.Any) -> None:
    emulator.store.create(TEST_REALM, "Customer", {"DisplayName": "Bo Chen", "PrimaryEmailAddr": {"Address": "b@x.io"}})
    person = add_person()
    drain()
    person.name = "Bo Chen"
    db.session.commit()
    drain()
    ours = next(c for c in customers(emulator) if c.get("PrimaryEmailAddr", {}).get("Address") == "ann@example.com")
    assert (ours["DisplayName"], ours["GivenName"], ours["FamilyName"]) == ("Bo Chen (2)", "Bo", "Chen")
    emulator.reset_counters()
    person.phone = "555-0100"  # the suffix QBO needed is not a difference: no rename back and forth
    db.session.commit()
    drain()
    assert emulator.counters[TEST_REALM]["writes"] == 1
    ours = next(c for c in customers(emulator) if c["Id"] == ours["Id"])
    assert ours["DisplayName"] == "Bo Chen (2)" and ours["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    qbo = get_qbo()
    differences = reconcile(qbo, qbo.connection("acme"), apply=True)
    assert [d for d in differences if d.kind == "contact"] == []  # the suffix is not a difference to pull
    assert person.name == "Bo Chen"


def test_linking_to_a_customer_by_email_gives_it_the_contacts_name(host: t.Any, emulator: t.Any) -> None:
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "A. Lee", "PrimaryEmailAddr": {"Address": "ann@example.com"}}
    )
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Ann Marie Lee", "PrimaryEmailAddr": {"Address": "o@x.io"}}
    )
    add_person()
    drain()
    ours = next(c for c in customers(emulator) if c["PrimaryEmailAddr"]["Address"] == "ann@example.com")
    assert (ours["DisplayName"], ours["GivenName"]) == ("Ann Marie Lee (2)", "Ann Marie")
    assert len(customers(emulator)) == 2


def _qbo_edit(emulator: t.Any, **changes: t.Any) -> None:
    [cust] = customers(emulator)
    emulator.store.update(
        TEST_REALM, "Customer", {"Id": cust["Id"], "SyncToken": cust["SyncToken"], **changes}, sparse=True
    )
    qbo = get_qbo()
    pull_mod.poll_cdc(qbo, qbo.connection("acme"))
    pull_mod.process(qbo)


def test_qbo_name_parts_join_into_the_one_name(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    drain()
    _qbo_edit(emulator, GivenName="Anna")
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "Anna Lee"
    assert pending() == []  # written with capture suppressed


def test_a_setter_field_writes_qbo_values_into_the_related_row(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    drain()
    _qbo_edit(emulator, BillAddr={**customers(emulator)[0]["BillAddr"], "City": "Shelbyville"})
    db.session.expire_all()
    assert db.session.get(Person, person.id).billing().city == "Shelbyville"
    assert pending() == []


def test_a_related_row_edit_is_captured_in_the_same_transaction(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    drain()
    address = person.billing()
    address.street = "2 Side St"
    db.session.flush()
    assert pending() == [(str(person.id), "upsert")]
    db.session.rollback()
    assert pending() == []  # rolled back with the edit
    db.session.get(Person, person.id).billing().street = "3 Far Rd"
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")]
    drain()
    assert customers(emulator)[0]["BillAddr"]["Line1"] == "3 Far Rd"


def test_related_rows_added_by_key_or_deleted_count_too(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    drain()
    db.session.add(Address(person_id=person.id, kind="shipping", street="9 Dock Rd"))  # by key, no relationship
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")]
    drain()
    db.session.delete(person.billing())
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")]
    drain()
    shipping = next(a for a in person.addresses if a.kind == "shipping")
    person.addresses.remove(shipping)  # an orphan, deleted by the cascade during the flush
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")]
    drain()
    assert customers(emulator)[0].get("BillAddr", {}).get("Line1") in (None, "")


def test_unrelated_row_changes_of_the_related_model_write_nothing(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    drain()
    address = person.billing()
    address.street = address.street  # set to the same value: not modified
    db.session.commit()
    assert pending() == []


def test_a_getter_field_is_pushed_when_a_watched_column_changes(host: t.Any, emulator: t.Any) -> None:
    person = add_person(company="Acme")
    drain()
    assert customers(emulator)[0]["CompanyName"] == "Acme"
    person.private_note = "not synced"
    db.session.commit()
    assert pending() == []
    person.department = "Sales"
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")]
    drain()
    assert customers(emulator)[0]["CompanyName"] == "Acme – Sales"


def test_a_row_moved_to_another_contact_changes_both(host: t.Any, emulator: t.Any) -> None:
    ann, bo = add_person(), add_person("Bo Chen")
    drain()
    ann.billing().person = bo
    db.session.commit()
    assert sorted(pending()) == sorted([(str(ann.id), "upsert"), (str(bo.id), "upsert")])


@pytest.mark.parametrize("how", ["key, relationship loaded", "key, after a commit", "relationship, not loaded"])
def test_a_row_moved_by_its_key_or_an_unloaded_relationship_changes_both(
    how: str, host: t.Any, emulator: t.Any
) -> None:
    ann, bo = add_person(), add_person("Bo Chen")
    ann_id, bo_id = ann.id, bo.id
    drain()
    db.session.remove()
    address = db.session.query(Address).filter_by(person_id=ann_id).one()
    if how == "key, relationship loaded":
        assert address.person is not None
        address.person_id = bo_id  # what a form's populate_obj does
    elif how == "key, after a commit":
        db.session.commit()  # expires the row: its old key is no longer in memory
        address.person_id = bo_id
    else:
        address.person = db.session.get(Person, bo_id)
    db.session.commit()
    assert sorted(pending()) == sorted([(str(ann_id), "upsert"), (str(bo_id), "upsert")])


def test_related_may_lead_to_the_contact_through_a_callable(host: t.Any, emulator: t.Any) -> None:
    seen: list[Address] = []

    def owner(row: Address) -> Person | None:
        seen.append(row)
        return row.person

    get_qbo().register_contact(Person, fields=FIELDS, related={Address: owner})
    person = add_person()
    drain()
    person.billing().city = "Ogdenville"
    db.session.commit()
    assert pending() == [(str(person.id), "upsert")] and seen[-1].city == "Ogdenville"


def test_an_import_links_and_creates_one_name_contacts(host: t.Any, emulator: t.Any) -> None:
    person = add_person()
    db.session.query(Outbox).delete()
    db.session.commit()
    emulator.store.create(
        TEST_REALM,
        "Customer",
        {
            "DisplayName": "Ann Lee",
            "GivenName": "Ann",
            "FamilyName": "Lee",
            "PrimaryEmailAddr": {"Address": "ann@example.com"},
        },
    )
    new = emulator.store.create(
        TEST_REALM,
        "Customer",
        {"DisplayName": "Zed Ray", "GivenName": "Zed", "FamilyName": "Ray", "BillAddr": {"City": "Capital City"}},
    )
    qbo = get_qbo()
    run = fetch.start_import(qbo, "acme", months=None, user="admin")
    while run.status == "fetching":
        run = fetch.run_import_step(qbo, run.id, budget=1)
    assert review.accept_all_exact(run.id) == 1
    review.decide(run.id, new["Id"], "create")
    plan = {item["qbo_id"]: item for item in review.preview(run.id)}
    assert plan[new["Id"]]["crm"] == [{"attr": "name", "label": "Name", "from": None, "to": "Zed Ray"}]
    assert {row["attr"] for row in next(i for k, i in plan.items() if k != new["Id"])["crm"]} == {"name"}
    assert import_apply.apply(run.id) == 2
    db.session.expire_all()
    assert db.session.get(Person, person.id).name == "Ann Lee"  # QBO wins where both have a value
    zed = db.session.query(Person).filter_by(name="Zed Ray").one()
    assert zed.billing().city == "Capital City"  # through the field's set=
    assert matching.search_contacts(qbo, "acme", "Zed") == [zed]


def test_a_new_qbo_customer_becomes_a_one_name_contact(host: t.Any, emulator: t.Any) -> None:
    host.config["QBO_IMPORT_NEW_CUSTOMERS"] = True
    emulator.store.create(
        TEST_REALM,
        "Customer",
        {"DisplayName": "Zed Ray", "GivenName": "Zed", "FamilyName": "Ray", "BillAddr": {"City": "Capital City"}},
    )
    qbo = get_qbo()
    pull_mod.poll_cdc(qbo, qbo.connection("acme"))
    pull_mod.process(qbo)
    zed = db.session.query(Person).one()
    assert zed.name == "Zed Ray" and zed.billing().city == "Capital City"
    assert pending() == []


def _import_acme(host: t.Any, emulator: t.Any) -> Person:
    """QBO's "Acme Corp" with contact person John Smith, imported as a new one-name contact."""
    host.config["QBO_IMPORT_NEW_CUSTOMERS"] = True
    emulator.store.create(
        TEST_REALM,
        "Customer",
        {
            "DisplayName": "Acme Corp",
            "GivenName": "John",
            "FamilyName": "Smith",
            "PrimaryEmailAddr": {"Address": "a@x.io"},
        },
    )
    qbo = get_qbo()
    pull_mod.poll_cdc(qbo, qbo.connection("acme"))
    pull_mod.process(qbo)
    person = db.session.query(Person).one()
    assert person.name == "Acme Corp"  # the first field feeding `name` wins
    return person


@pytest.mark.parametrize("threshold", [100, 0], ids=["one by one", "batch"])
def test_an_unrelated_edit_pushes_only_what_the_crm_changed(threshold: int, host: t.Any, emulator: t.Any) -> None:
    host.config["QBO_BATCH_THRESHOLD"] = threshold
    person = _import_acme(host, emulator)
    person.phone = "555-0100"
    db.session.commit()
    drain()
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["GivenName"], cust["FamilyName"]) == ("Acme Corp", "John", "Smith")
    assert cust["PrimaryPhone"]["FreeFormNumber"] == "555-0100"
    person.email = "ap@x.io"  # a second push from the state the first one recorded: still no name
    db.session.commit()
    drain()
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["GivenName"], cust["FamilyName"]) == ("Acme Corp", "John", "Smith")


def test_a_rename_pushes_the_display_name_and_the_split(host: t.Any, emulator: t.Any) -> None:
    person = _import_acme(host, emulator)
    person.name = "Acme Inc"
    db.session.commit()
    drain()
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["GivenName"], cust["FamilyName"]) == ("Acme Inc", "Acme", "Inc")


def test_a_case_only_rename_is_pushed(host: t.Any, emulator: t.Any) -> None:
    person = add_person("ann lee")
    drain()
    person.name = "Ann Lee"
    db.session.commit()
    drain()
    [cust] = customers(emulator)
    assert (cust["DisplayName"], cust["GivenName"], cust["FamilyName"]) == ("Ann Lee", "Ann", "Lee")


def test_reconcile_converges_when_qbo_changed_one_name_part(host: t.Any, emulator: t.Any) -> None:
    person = add_person("Ann Lee")
    drain()
    _qbo_edit(emulator, GivenName="Anne")  # pulled: `name` follows the parts, QBO's DisplayName stays
    assert db.session.get(Person, person.id).name == "Anne Lee"
    qbo = get_qbo()
    for _ in range(2):  # the contact matches one of the fields feeding `name`: nothing to flip, run after run
        assert [d for d in reconcile(qbo, qbo.connection("acme"), apply=True) if d.kind == "contact"] == []
        assert db.session.get(Person, person.id).name == "Anne Lee"
    with qbo.suppress_capture():  # changed behind capture's back: reconcile repairs it from QBO, once
        db.session.get(Person, person.id).name = "Zed"
        db.session.commit()
    first = [d for d in reconcile(qbo, qbo.connection("acme"), apply=True) if d.kind == "contact"]
    assert [d.detail for d in first] == [f"contact {person.id} differs in name"]
    assert db.session.get(Person, person.id).name == "Ann Lee"  # QBO's DisplayName: the first field feeding `name`
    assert [d for d in reconcile(qbo, qbo.connection("acme"), apply=True) if d.kind == "contact"] == []
    assert pending() == []


def test_a_number_in_the_name_is_the_names_own(host: t.Any, emulator: t.Any) -> None:
    host.config["QBO_IMPORT_NEW_CUSTOMERS"] = True
    add_person("Smith Family Trust (2019)")
    drain()
    [cust] = customers(emulator)
    assert cust["DisplayName"] == "Smith Family Trust (2019)"
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Studio (54)", "PrimaryEmailAddr": {"Address": "s@x.io"}}
    )
    qbo = get_qbo()
    pull_mod.poll_cdc(qbo, qbo.connection("acme"))
    pull_mod.process(qbo)
    assert sorted(p.name for p in db.session.query(Person)) == ["Smith Family Trust (2019)", "Studio (54)"]
    person = db.session.query(Person).filter_by(name="Smith Family Trust (2019)").one()
    person.phone = "555-0100"
    db.session.commit()
    drain()
    assert {c["DisplayName"] for c in customers(emulator)} == {"Smith Family Trust (2019)", "Studio (54)"}


def test_a_colliding_name_with_a_number_gets_a_suffix_of_its_own(host: t.Any, emulator: t.Any) -> None:
    emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Trust (2019)", "PrimaryEmailAddr": {"Address": "o@x.io"}}
    )
    add_person("Trust (2019)")
    drain()
    assert sorted(c["DisplayName"] for c in customers(emulator)) == ["Trust (2019)", "Trust (2019) (2)"]


def test_the_health_page_names_a_contact_as_a_push_would(host: t.Any) -> None:
    get_qbo().register_contact(Person, fields=FieldMap(Field("name", "DisplayName"), Field("company", "CompanyName")))
    person = add_person("Ann Lee", company="Acme")
    assert health.contact_label(get_qbo(), "acme", str(person.id)) == "Ann Lee"  # DisplayName, not the company
    assert FIELDS.setter_paths == ("BillAddr.City",)


def test_a_mapped_display_name_is_cleaned_like_a_derived_one_and_never_cut(host: t.Any, emulator: t.Any) -> None:
    get_qbo().register_contact(Person, fields=FieldMap(Field("name", "DisplayName")))
    add_person("Acme: West")
    drain()
    assert [c["DisplayName"] for c in customers(emulator)] == ["Acme West"]  # as "Acme: West" derived would be
    add_person("x" * 490)
    drain()
    [row] = db.session.query(Outbox).filter_by(status="failed").all()
    assert row.last_error is not None and "490 characters long; QuickBooks allows at most 482" in row.last_error
    assert len(customers(emulator)) == 1
