"""``QBO_MIRROR``: with "linked", unlinked customers' documents are neither read from QBO nor stored.

Every QBO answer the emulator sends is recorded, so "not read" means no
answer carried the unlinked customer's document, not merely that it was
dropped afterwards (a CDC page is the one exception: it answers for the
whole company at once, and the unlinked document is dropped unstored).
"""

from __future__ import annotations

import contextlib
import json
import typing as t

import flask
import pytest

from flask_qbo.errors import QBOConfigError
from flask_qbo.importing import apply as import_apply
from flask_qbo.importing import fetch
from flask_qbo.importing import review
from flask_qbo.models import Inbox
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.sync.pull import mirror
from flask_qbo.sync.pull import reconcile
from flask_qbo.sync.pull import scope
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from tests.hostapp import Contact
from tests.hostapp import db
from tests.sync.pull.pull_support import add_customer
from tests.sync.pull.pull_support import add_invoice
from tests.sync.pull.pull_support import linked_contact
from tests.sync.pull.pull_support import make_contact
from tests.sync.pull.pull_support import poll
from tests.sync.pull.pull_support import pull
from tests.sync.pull.pull_support import route_webhooks


class Answers:
    """The statement and JSON answer of every API request the emulator serves."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, t.Any]] = []

    def carried(self, entity: str, qbo_id: str) -> bool:
        """Whether any answer held ``entity`` ``qbo_id`` (a read, a query page or a CDC page)."""
        return any(_holds(body, entity, qbo_id) for _, body in self.seen)

    def statements(self) -> list[str]:
        return [what for what, _ in self.seen]


def _holds(body: t.Any, entity: str, qbo_id: str) -> bool:
    if isinstance(body, dict):
        found = body.get(entity)
        items = found if isinstance(found, list) else [found]
        if any(isinstance(i, dict) and str(i.get("Id")) == qbo_id for i in items):
            return True
        return any(_holds(value, entity, qbo_id) for value in body.values())
    if isinstance(body, list):
        return any(_holds(value, entity, qbo_id) for value in body)
    return False


@contextlib.contextmanager
def answers(emulator: t.Any) -> t.Iterator[Answers]:
    recorded = Answers()

    def finished(sender: t.Any, response: flask.Response, **extra: t.Any) -> None:
        request = flask.request
        if "/v3/" not in request.path:
            return
        what = request.args.get("query") or request.get_data(as_text=True) or request.full_path
        body = json.loads(response.get_data()) if response.is_json else None
        recorded.seen.append((what, body))

    flask.request_finished.connect(finished, emulator.app)
    try:
        yield recorded
    finally:
        flask.request_finished.disconnect(finished, emulator.app)


def stored(app: t.Any, qbo_id: str) -> bool:
    with app.app_context():
        return db.session.query(Transaction).filter_by(txn_type="Invoice", qbo_id=qbo_id).count() == 1


@pytest.fixture
def linked_mode(app: t.Any) -> t.Any:
    app.config["QBO_MIRROR"] = "linked"
    return app


def test_webhook_reads_and_stores_only_linked_customers_documents(linked_mode, emulator, connected) -> None:
    app = linked_mode
    route_webhooks(app, emulator)
    _, linked_id = linked_contact(app, emulator)
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    emulator.webhooks.flush()
    pull(app)
    mine, theirs = add_invoice(emulator, linked_id, 40), add_invoice(emulator, other["Id"], 60)
    with answers(emulator) as seen:
        emulator.webhooks.flush()
        pull(app)
    assert stored(app, mine["Id"]) and seen.carried("Invoice", mine["Id"])
    assert not stored(app, theirs["Id"])
    assert not seen.carried("Invoice", theirs["Id"]), "the unlinked customer's invoice left QBO"
    assert not seen.carried("Customer", other["Id"]), "the unlinked customer was re-read for its balance"
    with app.app_context():  # nothing stored for it, not even a tombstone
        assert db.session.query(Transaction).filter_by(qbo_id=theirs["Id"]).count() == 0


def test_cdc_stores_only_linked_customers_documents(linked_mode, emulator, connected) -> None:
    app = linked_mode
    _, linked_id = linked_contact(app, emulator)
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    mine, theirs = add_invoice(emulator, linked_id, 40), add_invoice(emulator, other["Id"], 60)
    with answers(emulator) as seen:
        poll(app)
    assert stored(app, mine["Id"])
    assert not stored(app, theirs["Id"])
    # The CDC page names the whole company; nothing more is asked about the unlinked customer.
    assert not [s for s in seen.statements() if "FROM Customer" in s and f"'{other['Id']}'" in s]


def test_linking_later_reads_the_customers_history(linked_mode, emulator, connected) -> None:
    app = linked_mode
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    first, second = add_invoice(emulator, other["Id"], 10), add_invoice(emulator, other["Id"], 20)
    poll(app)
    assert not stored(app, first["Id"]) and not stored(app, second["Id"])
    contact_id = make_contact(app, first_name="Una", last_name="Linked")
    with app.app_context():
        customer = mirror.get_customer(db.session, get_qbo(app).connection("acme").realm_id, other["Id"])
        customer.contact_key = str(contact_id)
        db.session.commit()
        assert db.session.query(Inbox).filter_by(operation=scope.LINK, entity_id=other["Id"]).count() == 1
    poll(app)  # a CDC poll in between leaves the Link event pending (it has no event time to cover)
    with app.app_context():
        assert db.session.query(Inbox).filter_by(operation=scope.LINK).one().status == "pending"
    with answers(emulator) as seen:
        pull(app)
    assert seen.carried("Invoice", first["Id"]) and seen.carried("Invoice", second["Id"])  # the history read
    assert stored(app, first["Id"]) and stored(app, second["Id"])


def test_import_fetches_linked_documents_and_apply_reads_the_rest(linked_mode, emulator, connected) -> None:
    app = linked_mode
    _, linked_id = linked_contact(app, emulator)
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked", PrimaryEmailAddr={"Address": "una@x.test"})
    mine, theirs = add_invoice(emulator, linked_id, 40), add_invoice(emulator, other["Id"], 60)
    contact_id = make_contact(app, first_name="Una", last_name="Linked", email="una@x.test")
    with answers(emulator) as seen, app.app_context():
        qbo = get_qbo(app)
        run = fetch.start_import(qbo, "acme")
        while run.status == "fetching":
            run = fetch.run_import_step(qbo, run.id)
        run_id = run.id
    assert stored(app, mine["Id"]) and not stored(app, theirs["Id"])
    assert not seen.carried("Invoice", theirs["Id"])
    with app.app_context():
        review.decide(run_id, other["Id"], "link", str(contact_id))
        import_apply.apply(run_id)
    pull(app)
    assert stored(app, theirs["Id"])


def test_all_mirrors_every_customers_documents(app, emulator, connected) -> None:
    _, linked_id = linked_contact(app, emulator)
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    mine, theirs = add_invoice(emulator, linked_id, 40), add_invoice(emulator, other["Id"], 60)
    poll(app)
    assert stored(app, mine["Id"]) and stored(app, theirs["Id"])
    with app.app_context():
        assert db.session.query(Inbox).filter_by(operation=scope.LINK).count() == 0


def test_an_unknown_mirror_value_fails_loudly(app) -> None:
    app.config["QBO_MIRROR"] = "some"
    with app.app_context(), pytest.raises(QBOConfigError, match="QBO_MIRROR"):
        scope.linked_only()


def una_with_an_invoice(emulator: t.Any) -> dict[str, t.Any]:
    """A QBO customer Una with an invoice (returned), and a CRM contact the push matches to her by email."""
    una = add_customer(emulator, GivenName="Una", FamilyName="Linked", PrimaryEmailAddr={"Address": "una@x.test"})
    db.session.add(Contact(tenant="acme", first_name="Una", last_name="Linked", email="una@x.test"))
    return t.cast("dict[str, t.Any]", add_invoice(emulator, una["Id"], 75))


def test_a_push_that_matches_an_existing_customer_reads_its_history(linked_mode, emulator, connected) -> None:
    app = linked_mode
    with app.app_context():
        old = una_with_an_invoice(emulator)
        db.session.commit()  # captured: the push matches the contact to the customer by email
        push.process(get_qbo(app))
    assert not stored(app, old["Id"])
    pull(app)
    assert stored(app, old["Id"])


def test_a_push_batch_that_matches_an_existing_customer_reads_its_history(linked_mode, emulator, connected) -> None:
    """The batch path inserts its new mirror rows without the ORM: it queues their history reads itself."""
    app = linked_mode
    with app.app_context():
        old = una_with_an_invoice(emulator)
        db.session.add_all(Contact(tenant="acme", first_name=f"New{i}", email=f"n{i}@x.test") for i in range(12))
        db.session.commit()
        assert push.process(get_qbo(app)) == 13  # above QBO_BATCH_THRESHOLD: one batch
        queued = db.session.query(Inbox).filter_by(operation=scope.LINK).count()
    assert queued == 13  # every new link, the adopted customer's among them
    assert not stored(app, old["Id"])
    pull(app)
    assert stored(app, old["Id"])


def test_reconcile_compares_only_linked_customers_documents(linked_mode, emulator, connected) -> None:
    app = linked_mode
    _, linked_id = linked_contact(app, emulator)
    other = add_customer(emulator, GivenName="Una", FamilyName="Linked")
    mine, theirs = add_invoice(emulator, linked_id, 40), add_invoice(emulator, other["Id"], 60)
    with app.app_context():
        qbo = get_qbo(app)
        found = reconcile.reconcile(qbo, qbo.connection("acme"), apply=True)
        assert ("missing", "Invoice", mine["Id"]) in {(d.kind, d.entity, d.qbo_id) for d in found}
        assert [d for d in found if (d.entity, d.qbo_id) == ("Invoice", theirs["Id"])] == []
        assert [d for d in reconcile.reconcile(qbo, qbo.connection("acme")) if d.entity == "Invoice"] == []
    assert stored(app, mine["Id"]) and not stored(app, theirs["Id"])


def test_a_merge_that_moves_the_link_reads_the_survivors_history(linked_mode, emulator, connected) -> None:
    app = linked_mode
    route_webhooks(app, emulator)
    contact_id, gone_id = linked_contact(app, emulator)
    keep = add_customer(emulator, GivenName="Kept", FamilyName="One")
    own = add_invoice(emulator, keep["Id"], 30)
    emulator.webhooks.flush()
    pull(app)
    assert not stored(app, own["Id"])
    emulator.store.merge_customers(TEST_REALM, gone_id, keep["Id"])
    emulator.webhooks.flush()
    pull(app)  # the merge moves the link and queues the survivor's history
    pull(app)
    with app.app_context():
        assert mirror.get_customer(db.session, TEST_REALM, keep["Id"]).contact_key == str(contact_id)
    assert stored(app, own["Id"])
