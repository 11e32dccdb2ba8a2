"""The initial import: paging, resumability, match proposals and applying the review exactly."""

from __future__ import annotations

import pytest

from flask_qbo import backfill
from flask_qbo import matching
from flask_qbo import mirror
from flask_qbo.errors import QBOConfigError
from flask_qbo.extension import get_qbo
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM

from ..hostapp import Contact
from ..hostapp import db
from .pull_support import add_customer
from .pull_support import add_invoice
from .pull_support import make_contact


@pytest.fixture
def company(emulator):
    """Six customers with one invoice each, built to exercise every match kind."""
    made = {
        "email": add_customer(emulator, GivenName="Eve", FamilyName="Mail", PrimaryEmailAddr={"Address": "EVE@x.test"}),
        "phone": add_customer(emulator, GivenName="Pat", FamilyName="Phone", PrimaryPhone={"FreeFormNumber": "+1 (415) 444-6538"}),
        "name": add_customer(emulator, DisplayName="Acme Corp", CompanyName="Acme, Inc."),
        "ambiguous": add_customer(emulator, GivenName="Sam", FamilyName="Twin"),
        "none": add_customer(emulator, GivenName="No", FamilyName="Body"),
        "create": add_customer(emulator, GivenName="New", FamilyName="Person", PrimaryEmailAddr={"Address": "new@x.test"}),
    }
    for cust in made.values():
        add_invoice(emulator, cust["Id"], 25)
    return made


@pytest.fixture
def contacts(app):
    return {
        "email": make_contact(app, first_name="Evelyn", last_name="M", email="eve@x.test"),
        "phone": make_contact(app, first_name="Patricia", last_name="P", phone="415.444.6538"),
        "name": make_contact(app, company="ACME Corporation LLC"),
        "twin1": make_contact(app, first_name="Sam", last_name="Twin"),
        "twin2": make_contact(app, first_name="sam", last_name="twin."),
        "other_tenant": make_contact(app, tenant="globex", first_name="No", last_name="Body"),
    }


def run_import(app, months=None, budget=1):
    with app.app_context():
        qbo = get_qbo(app)
        run = backfill.start_import(qbo, "acme", months=months, user="admin@acme.test")
        while run.status == "fetching":
            run = backfill.run_import_step(qbo, run.id, budget=budget)
        return run.id


def matches(app, run_id):
    with app.app_context():
        return {m.qbo_id: (m.match_kind, m.contact_key, m.candidates) for m in db.session.query(ImportMatch).filter_by(run_id=run_id)}


def test_import_pages_everything_and_proposes_matches(app, emulator, connected, company, contacts):
    emulator.reset_counters()
    run_id = run_import(app)
    found = matches(app, run_id)
    assert found[company["email"]["Id"]] == ("email", str(contacts["email"]), None)
    assert found[company["phone"]["Id"]] == ("phone", str(contacts["phone"]), None)
    assert found[company["name"]["Id"]] == ("name", str(contacts["name"]), None)
    kind, key, candidates = found[company["ambiguous"]["Id"]]
    assert (kind, key, sorted(candidates)) == ("ambiguous", None, sorted([str(contacts["twin1"]), str(contacts["twin2"])]))
    assert found[company["none"]["Id"]][0] == "none"  # the globex contact is another tenant's
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.customers_total, run.customers_done, run.transactions_done) == ("review", 6, 6, 6)
        assert db.session.query(Customer).count() == 6 and db.session.query(Transaction).count() == 6
        # One query per entity type (9) plus the COUNT: never one per customer.
        assert run.requests_made == 10 == emulator.counters[TEST_REALM]["reads"]


def test_import_resumes_after_a_crash(app, emulator, connected, company, contacts, monkeypatch):
    with app.app_context():
        qbo = get_qbo(app)
        run = backfill.start_import(qbo, "acme")
        emulator.faults.fail_next(n=1, status=400, code="4000", path_contains="query")
        run = backfill.run_import_step(qbo, run.id, budget=1)
        assert run.status == "fetching" and run.error and run.requests_made == 0
        run = backfill.run_import_step(qbo, run.id, budget=3)  # Term, PaymentMethod, Customer
        assert run.cursor == {"entity": "Invoice", "start": 1} and run.error is None
        real = mirror.upsert_transaction

        def crash(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("worker killed mid-page")

        monkeypatch.setattr(mirror, "upsert_transaction", crash)
        with pytest.raises(RuntimeError):
            backfill.run_import_step(qbo, run.id)
        db.session.rollback()
        monkeypatch.setattr(mirror, "upsert_transaction", real)
        run_id = run.id
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert run.cursor == {"entity": "Invoice", "start": 1} and run.transactions_done == 0
        while run.status == "fetching":
            run = backfill.run_import_step(get_qbo(app), run.id)
        assert run.status == "review" and run.transactions_done == 6
        assert db.session.query(Transaction).count() == 6


def test_months_limits_transactions(app, emulator, connected):
    cust = add_customer(emulator, GivenName="Old", FamilyName="Books")
    add_invoice(emulator, cust["Id"], 10, TxnDate="2001-01-01")
    add_invoice(emulator, cust["Id"], 10)
    run_id = run_import(app, months=12)
    with app.app_context():
        assert db.session.get(ImportRun, run_id).transactions_done == 1


def test_review_choices_are_applied_exactly(app, emulator, connected, company, contacts):
    run_id = run_import(app)
    with app.app_context():
        assert backfill.accept_all_exact(run_id) == 1
        backfill.decide(run_id, company["ambiguous"]["Id"], "link", str(contacts["twin2"]))
        backfill.decide(run_id, company["create"]["Id"], "create")
        backfill.decide(run_id, company["name"]["Id"], "skip")
        with pytest.raises(ValueError):  # another tenant's contact cannot be linked
            backfill.decide(run_id, company["none"]["Id"], "link", str(contacts["other_tenant"]))
        plan = {item["qbo_id"]: item for item in backfill.preview(run_id)}
        assert set(plan) == {company["email"]["Id"], company["ambiguous"]["Id"], company["create"]["Id"]}
        assert {c["attr"] for c in plan[company["email"]["Id"]]["crm"]} == {"first_name", "last_name", "email"}
        assert {c["attr"] for c in plan[company["create"]["Id"]]["crm"]} >= {"first_name", "last_name", "email"}
        # Dry run: nothing changed yet.
        assert db.session.get(Contact, contacts["email"]).first_name == "Evelyn"
        assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 0

        assert backfill.apply(run_id) == 3
        links = {c.qbo_id: c.contact_key for c in db.session.query(Customer)}
        assert links[company["email"]["Id"]] == str(contacts["email"])
        assert links[company["ambiguous"]["Id"]] == str(contacts["twin2"])
        assert links[company["name"]["Id"]] is None and links[company["phone"]["Id"]] is None
        assert links[company["none"]["Id"]] is None
        created = db.session.query(Contact).filter_by(email="new@x.test").one()
        assert links[company["create"]["Id"]] == str(created.id) and created.tenant == "acme"
        assert db.session.get(Contact, contacts["email"]).first_name == "Eve"  # QBO wins where both have a value
        assert db.session.get(Contact, contacts["twin1"]).last_name == "Twin"
        assert db.session.query(Outbox).count() == 0  # QBO had every value; nothing to push back
        assert db.session.get(ImportRun, run_id).status == "done"


def test_link_fills_qbo_blanks_through_the_outbox(app, emulator, connected):
    add_customer(emulator, GivenName="Blank", FamilyName="Phone", PrimaryEmailAddr={"Address": "b@x.test"})
    cid = make_contact(app, first_name="Blank", last_name="Phone", email="b@x.test", phone="555-123-4567")
    run_id = run_import(app)
    with app.app_context():
        backfill.accept_all_exact(run_id)
        (item,) = backfill.preview(run_id)
        assert item["qbo"] == [{"path": "PrimaryPhone.FreeFormNumber", "from": None, "to": "555-123-4567"}]
        backfill.apply(run_id)
        assert db.session.query(Outbox).filter_by(contact_key=str(cid), status="pending").count() == 1


def test_on_change_mode_offers_no_import(app, connected):
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    with app.app_context():
        with pytest.raises(QBOConfigError):
            backfill.start_import(get_qbo(app), "acme")


def test_minimum_requests():
    assert backfill.minimum_requests({"Customer": 10000, "Invoice": 0, "Payment": 1001}) == 10 + 1 + 2


def test_search_reads_past_other_tenants_and_escapes_wildcards(app):
    with app.app_context():
        db.session.add_all(Contact(tenant="globex", first_name=f"Zed{n}", last_name="Shared") for n in range(450))
        db.session.add_all(Contact(tenant="acme", first_name=f"Zed{n}", last_name="Shared") for n in range(3))
        db.session.add(Contact(tenant="acme", first_name="Per", last_name="Cent", company="100% Organic_Farm"))
        db.session.commit()
        qbo = get_qbo(app)
        found = matching.search_contacts(qbo, "acme", "zed SHARED")
        assert [c.first_name for c in found] == ["Zed0", "Zed1", "Zed2"]  # the 451st row and later
        assert len(matching.search_contacts(qbo, "globex", "shared", limit=20)) == 20
        assert [c.last_name for c in matching.search_contacts(qbo, "acme", "0% organic_")] == ["Cent"]
        assert matching.search_contacts(qbo, "acme", "_%") == []
        assert matching.search_contacts(qbo, "acme", "z") == []  # too short, and not a key
        assert len(list(matching.tenant_contacts(qbo, "acme"))) == 4


def test_a_contact_is_linked_to_one_customer_only(app, emulator, connected, company, contacts):
    run_id = run_import(app)
    with app.app_context():
        # The admin links the unmatched row to the contact the e-mail row proposes ...
        backfill.decide(run_id, company["none"]["Id"], "link", str(contacts["email"]))
        # ... so accepting exact matches leaves that row pending rather than linking the contact twice.
        assert backfill.accept_all_exact(run_id) == 0
        with pytest.raises(ValueError, match="already chosen for QuickBooks customer No Body"):
            backfill.decide(run_id, company["email"]["Id"], "link")
        assert backfill.summary(run_id) == {
            "email": 1, "phone": 1, "name": 1, "ambiguous": 1, "none": 2, "decided": 1, "total": 6,
        }
        backfill.decide(run_id, company["none"]["Id"], "skip")
        assert backfill.accept_all_exact(run_id) == 1
