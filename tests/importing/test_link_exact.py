"""Linking a first sync's exact matches: only those rows, the run stays reviewable, tallies add up."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.importing import apply as import_apply
from flask_qbo.importing import fetch
from flask_qbo.importing import findings
from flask_qbo.importing import review
from flask_qbo.models import Customer
from flask_qbo.models import ImportMatch
from flask_qbo.models import ImportRun
from flask_qbo.state import get_qbo
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import make_contact


def fetched_run(app: t.Any) -> int:
    with app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id)
        return int(run.id)


def linked(app: t.Any) -> dict[str, str]:
    with app.app_context():
        return {c.qbo_id: c.contact_key for c in db.session.query(Customer).filter(Customer.contact_key.isnot(None))}


def status_and_tally(app: t.Any, run_id: int) -> tuple[str, dict[str, int]]:
    with app.app_context():
        run = db.session.get(ImportRun, run_id)
        return run.status, findings.tally(get_qbo(app), run)


@pytest.fixture
def books(app: t.Any, emulator: t.Any, connected: t.Any) -> dict[str, t.Any]:
    """One exact e-mail match, one phone match, one customer no contact matches."""
    return {
        "exact": add_customer(emulator, GivenName="Eve", FamilyName="Mail", PrimaryEmailAddr={"Address": "eve@x.test"}),
        "phone": add_customer(emulator, GivenName="Pat", FamilyName="P", PrimaryPhone={"FreeFormNumber": "4154446538"}),
        "new": add_customer(emulator, GivenName="No", FamilyName="Body"),
        "eve": make_contact(app, first_name="Evelyn", last_name="M", email="eve@x.test"),
        "pat": make_contact(app, first_name="Patricia", last_name="Q", phone="415.444.6538"),
    }


def test_link_exact_applies_only_exact_rows_and_keeps_the_run_in_review(app: t.Any, books: t.Any) -> None:
    run_id = fetched_run(app)
    assert status_and_tally(app, run_id) == ("review", {"exact": 1, "review": 1, "new": 1, "linked": 0})
    with app.app_context():
        # The admin already chose Link for the phone match: "Link exact matches" must not carry it out.
        review.decide(run_id, books["phone"]["Id"], "link")
        assert import_apply.link_exact(run_id) == 1
    assert linked(app) == {books["exact"]["Id"]: str(books["eve"])}
    assert status_and_tally(app, run_id) == ("review", {"exact": 0, "review": 1, "new": 1, "linked": 1})
    with app.app_context():
        phone = db.session.query(ImportMatch).filter_by(run_id=run_id, qbo_id=books["phone"]["Id"]).one()
        assert phone.decision == "link" and not phone.applied
        assert import_apply.apply(run_id) == 1  # the admin's Apply carries out the rest and finishes the import
    assert status_and_tally(app, run_id)[0] == "done"
    assert linked(app)[books["phone"]["Id"]] == str(books["pat"])


def test_link_exact_finishes_the_run_when_nothing_is_left(app: t.Any, books: t.Any) -> None:
    run_id = fetched_run(app)
    with app.app_context():
        review.decide(run_id, books["phone"]["Id"], "skip")
        review.decide(run_id, books["new"]["Id"], "skip")
        assert import_apply.link_exact(run_id) == 1
    status, counts = status_and_tally(app, run_id)
    assert status == "done" and counts == {"exact": 0, "review": 0, "new": 0, "linked": 1}


def test_link_exact_refuses_a_run_that_is_not_in_review(app: t.Any, books: t.Any) -> None:
    run_id = fetched_run(app)
    with app.app_context():
        import_apply.apply(run_id)
        with pytest.raises(ValueError, match="in review"):
            import_apply.link_exact(run_id)
    assert linked(app) == {}


def test_link_exact_never_creates_or_links_a_contact_the_admin_chose_instead(
    app: t.Any, books: t.Any, emulator: t.Any
) -> None:
    # Two more exact e-mail rows: the admin decides "create" for one and links the other to another contact.
    fay = add_customer(emulator, GivenName="Fay", FamilyName="Mail", PrimaryEmailAddr={"Address": "fay@x.test"})
    gus = add_customer(emulator, GivenName="Gus", FamilyName="Mail", PrimaryEmailAddr={"Address": "gus@x.test"})
    make_contact(app, first_name="Fay", last_name="M", email="fay@x.test")
    make_contact(app, first_name="Gus", last_name="M", email="gus@x.test")
    other = str(make_contact(app, first_name="Other", last_name="Person"))
    run_id = fetched_run(app)
    assert status_and_tally(app, run_id)[1]["exact"] == 3
    with app.app_context():
        review.decide(run_id, fay["Id"], "create")
        review.decide(run_id, gus["Id"], "link", other)
    assert status_and_tally(app, run_id) == ("review", {"exact": 1, "review": 2, "new": 2, "linked": 0})
    contacts_before = _contact_count(app)
    with app.app_context():
        assert import_apply.link_exact(run_id) == 1  # only Eve, linked to her proposed contact
    assert linked(app) == {books["exact"]["Id"]: str(books["eve"])}
    assert _contact_count(app) == contacts_before  # no contact created by a button labelled "Link"
    with app.app_context():
        rows = {m.qbo_id: (m.decision, m.applied) for m in db.session.query(ImportMatch).filter_by(run_id=run_id)}
    assert rows[fay["Id"]] == ("create", False) and rows[gus["Id"]] == ("link", False)
    assert status_and_tally(app, run_id) == ("review", {"exact": 0, "review": 2, "new": 2, "linked": 1})


def test_an_exact_row_whose_contact_is_taken_needs_review_not_the_link_button(
    app: t.Any, books: t.Any, emulator: t.Any
) -> None:
    run_id = fetched_run(app)
    with app.app_context():
        # The admin links the phone row to Eve's contact: the exact row's proposal is now taken.
        review.decide(run_id, books["phone"]["Id"], "link", str(books["eve"]))
    assert status_and_tally(app, run_id)[1] == {"exact": 0, "review": 2, "new": 1, "linked": 0}


def _contact_count(app: t.Any) -> int:
    with app.app_context():
        return int(db.session.query(Contact).count())
