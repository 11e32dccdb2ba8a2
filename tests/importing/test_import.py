"""The initial import: paging, resumability, match proposals and applying the review exactly."""

from __future__ import annotations

import threading

import pytest

from flask_qbo.errors import QBOConfigError
from flask_qbo.importing import apply as import_apply
from flask_qbo.importing import fetch
from flask_qbo.importing import matching
from flask_qbo.importing import review
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import bulk
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import make_contact


@pytest.fixture
def company(emulator):
    """Six customers with one invoice each, built to exercise every match kind."""
    made = {
        "email": add_customer(emulator, GivenName="Eve", FamilyName="Mail", PrimaryEmailAddr={"Address": "EVE@x.test"}),
        "phone": add_customer(
            emulator, GivenName="Pat", FamilyName="Phone", PrimaryPhone={"FreeFormNumber": "+1 (415) 444-6538"}
        ),
        "name": add_customer(emulator, DisplayName="Acme Corp", CompanyName="Acme, Inc."),
        "ambiguous": add_customer(emulator, GivenName="Sam", FamilyName="Twin"),
        "none": add_customer(emulator, GivenName="No", FamilyName="Body"),
        "create": add_customer(
            emulator, GivenName="New", FamilyName="Person", PrimaryEmailAddr={"Address": "new@x.test"}
        ),
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
        run = fetch.start_import(qbo, "acme", months=months, user="admin@acme.test")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id, budget=budget)
        return run.id


def matches(app, run_id):
    with app.app_context():
        return {
            m.qbo_id: (m.match_kind, m.contact_key, m.candidates)
            for m in db.session.query(ImportMatch).filter_by(run_id=run_id)
        }


def test_import_pages_everything_and_proposes_matches(app, emulator, connected, company, contacts):
    emulator.reset_counters()
    run_id = run_import(app)
    found = matches(app, run_id)
    assert found[company["email"]["Id"]] == ("email", str(contacts["email"]), None)
    assert found[company["phone"]["Id"]] == ("phone", str(contacts["phone"]), None)
    assert found[company["name"]["Id"]] == ("name", str(contacts["name"]), None)
    kind, key, candidates = found[company["ambiguous"]["Id"]]
    assert (kind, key, sorted(candidates)) == (
        "ambiguous",
        None,
        sorted([str(contacts["twin1"]), str(contacts["twin2"])]),
    )
    assert found[company["none"]["Id"]][0] == "none"  # the globex contact is another tenant's
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert (run.status, run.customers_total, run.customers_done, run.transactions_done) == ("review", 6, 6, 6)
        assert db.session.query(Customer).count() == 6 and db.session.query(Transaction).count() == 6
        # One query per entity type (9) plus one batch of COUNTs: never one per customer.
        assert run.requests_made == 10 == emulator.counters[TEST_REALM]["requests"]


def test_import_resumes_after_a_crash(app, emulator, connected, company, contacts, monkeypatch):
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        emulator.faults.fail_next(n=1, status=400, code="4000", path_contains="query")
        run = fetch.run_import_step(qbo, run.id, budget=1)
        assert run.status == "fetching" and run.error and run.requests_made == 0
        run = fetch.run_import_step(qbo, run.id, budget=3)  # Term, PaymentMethod, Customer
        assert (run.cursor["entity"], run.cursor["start"], run.error) == ("Invoice", 1, None)
        real = bulk.upsert_transactions

        def crash(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("worker killed mid-page")

        monkeypatch.setattr(bulk, "upsert_transactions", crash)
        with pytest.raises(RuntimeError):
            fetch.run_import_step(qbo, run.id)
        db.session.rollback()
        monkeypatch.setattr(bulk, "upsert_transactions", real)
        run_id = run.id
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        assert (run.cursor["entity"], run.cursor["start"], run.transactions_done) == ("Invoice", 1, 0)
        while run.status == "fetching":
            run = fetch.run_import_step(get_qbo(app), run.id)
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
        assert review.accept_all_exact(run_id) == 1
        review.decide(run_id, company["ambiguous"]["Id"], "link", str(contacts["twin2"]))
        review.decide(run_id, company["create"]["Id"], "create")
        review.decide(run_id, company["name"]["Id"], "skip")
        with pytest.raises(ValueError):  # another tenant's contact cannot be linked
            review.decide(run_id, company["none"]["Id"], "link", str(contacts["other_tenant"]))
        plan = {item["qbo_id"]: item for item in review.preview(run_id)}
        assert set(plan) == {company["email"]["Id"], company["ambiguous"]["Id"], company["create"]["Id"]}
        assert {c["attr"] for c in plan[company["email"]["Id"]]["crm"]} == {"first_name", "last_name", "email"}
        assert {c["attr"] for c in plan[company["create"]["Id"]]["crm"]} >= {"first_name", "last_name", "email"}
        # Dry run: nothing changed yet.
        assert db.session.get(Contact, contacts["email"]).first_name == "Evelyn"
        assert db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count() == 0

        assert import_apply.apply(run_id) == 3
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
        review.accept_all_exact(run_id)
        (item,) = review.preview(run_id)
        assert item["qbo"] == [
            {"path": "PrimaryPhone.FreeFormNumber", "label": "Phone", "from": None, "to": "555-123-4567"}
        ]
        import_apply.apply(run_id)
        assert db.session.query(Outbox).filter_by(contact_key=str(cid), status="pending").count() == 1


def test_on_change_mode_offers_no_import(app, connected):
    app.config["QBO_INITIAL_SYNC"] = "on_change"
    with app.app_context():
        with pytest.raises(QBOConfigError):
            fetch.start_import(get_qbo(app), "acme")


def test_minimum_requests():
    assert fetch.minimum_requests({"Customer": 10000, "Invoice": 0, "Payment": 1001}) == 10 + 1 + 2


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
        review.decide(run_id, company["none"]["Id"], "link", str(contacts["email"]))
        # ... so accepting exact matches leaves that row pending rather than linking the contact twice.
        assert review.accept_all_exact(run_id) == 0
        with pytest.raises(ValueError, match="already chosen for QuickBooks customer No Body"):
            review.decide(run_id, company["email"]["Id"], "link")
        assert review.summary(run_id) == {
            "email": 1,
            "phone": 1,
            "name": 1,
            "ambiguous": 1,
            "none": 2,
            "decided": 1,
            "total": 6,
            "attention_left": 2,  # the ambiguous row and the other unmatched one; the decided one is not
        }
        review.decide(run_id, company["none"]["Id"], "skip")
        assert review.accept_all_exact(run_id) == 1


# -- one key per contact, and runs that never wedge ---------------------------------

#: Ways to type contact ``key`` that are not the key itself (each must be refused).
OTHER_SPELLINGS = {
    "leading zero": lambda key: "0" + key,
    "plus sign": lambda key: "+" + key,
    "leading space": lambda key: " " + key,
    "trailing newline": lambda key: key + "\n",
    "arabic-indic": lambda key: key.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    "fullwidth": lambda key: key.translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "underscore": lambda key: key[:1] + "_" + key[1:] if len(key) > 1 else "0_" + key,
    "decimal": lambda key: key + ".0",
}


@pytest.mark.parametrize("spelling", OTHER_SPELLINGS, ids=list(OTHER_SPELLINGS))
def test_another_spelling_of_a_chosen_contact_is_refused(app, emulator, connected, company, contacts, spelling):
    """The "already chosen" check sees through no spelling: it is refused, the row stays pending."""
    run_id = run_import(app)
    key = str(contacts["twin1"])
    typed = OTHER_SPELLINGS[spelling](key)
    with app.app_context():
        review.decide(run_id, company["ambiguous"]["Id"], "link", key)
        with pytest.raises(ValueError, match="not a contact key|already chosen"):
            review.decide(run_id, company["none"]["Id"], "link", typed)
        assert matches(app, run_id)[company["none"]["Id"]][1] is None
        assert import_apply.apply(run_id) == 1
        assert db.session.get(ImportRun, run_id).status == "done"


def _decide_directly(app, run_id, qbo_id, decision, contact_key=None):
    """Write a decision the way an older version stored it, bypassing :func:`review.decide`'s checks."""
    with app.app_context():
        match = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=qbo_id).one()
        match.decision, match.contact_key = decision, contact_key
        db.session.commit()


def _run_state(app, run_id):
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        linked = db.session.query(Customer).filter(Customer.contact_key.isnot(None)).count()
        return run.status, run.error, run.applied, linked


def test_apply_refuses_two_rows_linking_one_contact_and_stays_reviewable(app, emulator, connected, company, contacts):
    """Rows that would link one contact twice are named before anything is written; the run stays in review."""
    run_id = run_import(app)
    key = str(contacts["twin1"])
    _decide_directly(app, run_id, company["ambiguous"]["Id"], "link", key)
    _decide_directly(app, run_id, company["none"]["Id"], "link", key)
    _decide_directly(app, run_id, company["create"]["Id"], "create")
    with app.app_context():
        with pytest.raises(import_apply.ApplyError) as info:
            import_apply.apply(run_id)
    message = str(info.value)
    assert f"Sam Twin (contact {key}) is chosen for 2 customers" in message
    assert f"Sam Twin (id {company['ambiguous']['Id']})" in message and "No Body" in message
    assert _run_state(app, run_id) == ("review", message, 0, 0)
    with app.app_context():
        assert db.session.query(Contact).filter_by(email="new@x.test").count() == 0
        review.decide(run_id, company["none"]["Id"], "skip")
        assert import_apply.apply(run_id) == 2
    assert _run_state(app, run_id) == ("done", None, 2, 2)


def test_apply_names_a_key_stored_in_another_spelling(app, emulator, connected, company, contacts):
    """A wedged run from before keys were canonical ("0<key>" stored): Apply names the row instead of a 500."""
    run_id = run_import(app)
    key = str(contacts["twin1"])
    with app.app_context():
        review.decide(run_id, company["ambiguous"]["Id"], "link", key)
    _decide_directly(app, run_id, company["none"]["Id"], "link", "0" + key)
    with app.app_context():
        db.session.get(ImportRun, run_id).status = "applying"  # where the old 500 left it
        db.session.commit()
        with pytest.raises(import_apply.ApplyError) as info:
            import_apply.apply(run_id)
    message = str(info.value)
    assert f"No Body (id {company['none']['Id']}): '0{key}' is not a contact key" in message
    assert _run_state(app, run_id) == ("review", message, 0, 0)
    with app.app_context():
        with pytest.raises(ValueError, match="already chosen for QuickBooks customer Sam Twin"):
            review.decide(run_id, company["none"]["Id"], "link", key)
        review.decide(run_id, company["none"]["Id"], "skip")
        assert import_apply.apply(run_id) == 1
    assert _run_state(app, run_id) == ("done", None, 1, 1)


def test_apply_failing_midway_keeps_what_was_applied_and_stays_reviewable(
    app, emulator, connected, company, contacts, monkeypatch
):
    """A host factory error after one committed batch: the batch stays, the rest waits for the next Apply."""
    monkeypatch.setattr("flask_qbo.importing.apply.APPLY_BATCH", 1)
    run_id = run_import(app)
    with app.app_context():
        qbo = get_qbo(app)
        review.accept_all_exact(run_id)
        review.decide(run_id, company["create"]["Id"], "create")
        factory = qbo._contact_factory

        @qbo.contact_factory
        def refuse(tenant_key, values):
            raise ValueError("the CRM refused the new contact: duplicate e-mail new@x.test")

        with pytest.raises(ValueError) as info:
            import_apply.apply(run_id)
        qbo.contact_factory(factory)
    message = str(info.value)
    assert "New Person" in message and "duplicate e-mail new@x.test" in message
    assert _run_state(app, run_id) == ("review", message, 1, 1)  # the e-mail link came first and stays
    with app.app_context():
        with pytest.raises(ValueError, match="already applied"):
            review.decide(run_id, company["email"]["Id"], "skip")
        assert import_apply.apply(run_id) == 1
        assert db.session.query(Contact).filter_by(email="new@x.test").count() == 1
    assert _run_state(app, run_id) == ("done", None, 2, 2)


def test_a_run_left_applying_by_a_crash_resumes_or_cancels(app, emulator, connected, company, contacts):
    run_id = run_import(app)
    with app.app_context():
        qbo = get_qbo(app)
        review.accept_all_exact(run_id)
        db.session.get(ImportRun, run_id).status = "applying"  # the process died after this commit
        db.session.commit()
        assert fetch.start_import(qbo, "acme").id == run_id  # still the tenant's run ...
        assert import_apply.apply(run_id) == 1  # ... and Apply finishes it
    assert _run_state(app, run_id) == ("done", None, 1, 1)

    second = run_import_until_review(app)
    with app.app_context():
        db.session.get(ImportRun, second).status = "applying"
        db.session.commit()
        fetch.cancel(second, user="admin@acme.test")
        assert db.session.get(ImportRun, second).status == "cancelled"
        with pytest.raises(ValueError, match="cancelled"):
            import_apply.apply(second)
        with pytest.raises(ValueError, match="cancelled"):
            fetch.cancel(second)
        assert fetch.start_import(qbo, "acme").id not in (run_id, second)


def run_import_until_review(app):
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id)
        return run.id


def test_cancel_while_a_page_is_fetched_discards_the_page(app, emulator, connected, company, contacts, monkeypatch):
    """A step that was already fetching when the admin cancelled never revives the run."""
    from flask_qbo.intuit.client import QBOClient

    with app.app_context():
        run_id = fetch.start_import(get_qbo(app), "acme").id
    original = QBOClient.query_unparsed  # what the page workers fetch with (query_page too)
    first = threading.Lock()

    def cancel_meanwhile(self, statement):
        page = original(self, statement)
        if first.acquire(blocking=False):  # pages are fetched several at once: the admin cancels once
            with app.app_context():  # another request: the admin's Cancel, committed first
                fetch.cancel(run_id)
        return page

    monkeypatch.setattr(QBOClient, "query_unparsed", cancel_meanwhile)
    with app.app_context():
        run = fetch.run_import_step(get_qbo(app), run_id, budget=50)
        assert run.status == "cancelled" and run.requests_made == 0
        assert db.session.query(ImportMatch).filter_by(run_id=run_id).count() == 0


def test_cancel_between_apply_batches_stops_the_apply(app, emulator, connected, company, contacts, monkeypatch):
    monkeypatch.setattr("flask_qbo.importing.apply.APPLY_BATCH", 1)
    run_id = run_import(app)
    with app.app_context():
        review.accept_all_exact(run_id)
        review.decide(run_id, company["create"]["Id"], "create")
    original = import_apply._apply_batch
    batches = []

    def cancel_after_first(*args):
        outcome = original(*args)
        batches.append(outcome)
        if len(batches) == 1:
            with app.app_context():  # the admin's Cancel lands between the first and the second batch
                fetch.cancel(run_id, user="admin@acme.test")
        return outcome

    monkeypatch.setattr(import_apply, "_apply_batch", cancel_after_first)
    with app.app_context():
        with pytest.raises(ValueError, match="cancelled while it was being applied; 1 customers"):
            import_apply.apply(run_id)
    status, _, applied, linked = _run_state(app, run_id)
    assert (status, applied, linked) == ("cancelled", 1, 1) and batches == [(1, False), None]
