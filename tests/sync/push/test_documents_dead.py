"""A create that died after QBO may have made the document: its retry never makes a second one."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo import get_qbo
from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.documents import retry_document
from flask_qbo.billing.draft import draft_from_json
from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.sync.pull import mirror
from flask_qbo.sync.push import push
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import push_now
from tests.hostapp import db

from .docs_helpers import add_document
from .docs_helpers import invoices
from .docs_helpers import linked_contact

#: The saved form of the document: 2 × 75.00 of "Services".
DRAFT: dict[str, t.Any] = {
    "kind": "Invoice",
    "lines": [
        {"item_id": "1", "description": "x", "qty": "2", "unit_price": "75", "amount": "150.00", "tax_code_id": None}
    ],
}


@pytest.fixture
def ctx(app: t.Any, connected: t.Any) -> t.Iterator[t.Any]:
    app.config["QBO_MAX_RETRIES"] = 0
    app.config["QBO_OUTBOX_MAX_ATTEMPTS"] = 1
    with app.app_context():
        yield app


def _die_after_create(monkeypatch: pytest.MonkeyPatch) -> None:
    """QBO makes the invoice, then recording its answer fails until the test restores it."""

    def crash(*args: t.Any, **kwargs: t.Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(mirror, "upsert_transaction", crash)


def test_edit_and_retry_of_a_dead_create_adopts_the_invoice_instead_of_making_another(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    contact = linked_contact()
    document, row = add_document(contact, draft=DRAFT)
    _die_after_create(monkeypatch)
    push.process(get_qbo())
    monkeypatch.undo()
    db.session.expire_all()
    assert db.session.get(Outbox, row.id).status == "dead"
    [made] = invoices(emulator)
    doc = db.session.get(Document, document.id)
    body = dict(doc.body)
    edited = draft_from_json({**DRAFT, "lines": [{**DRAFT["lines"][0], "qty": "3", "amount": "225.00"}]})
    again = retry_document(db.session, doc, edited, Catalog.load(db.session, TEST_REALM))
    db.session.commit()
    assert again.id == row.id  # the old row and its requestid, not a fresh one
    assert doc.body == body  # sent unchanged: QBO may have made it from this body
    push_now()
    db.session.expire_all()
    assert [i["Id"] for i in invoices(emulator)] == [made["Id"]]
    doc = db.session.get(Document, document.id)
    assert (doc.state, doc.qbo_id) == ("created", made["Id"])


def test_a_refused_create_is_edited_and_retried_under_a_fresh_request(ctx: t.Any, emulator: t.Any) -> None:
    contact = linked_contact()
    bad = [{"DetailType": "SalesItemLineDetail", "Amount": 150.0, "SalesItemLineDetail": {"ItemRef": {"value": "999"}}}]
    document, row = add_document(contact, draft=DRAFT, body={"Line": bad})
    push_now()
    db.session.expire_all()
    refused = db.session.get(Outbox, row.id)
    assert refused.status == "failed"
    old_uuid = refused.uuid
    doc = db.session.get(Document, document.id)
    again = retry_document(db.session, doc, draft_from_json(DRAFT), Catalog.load(db.session, TEST_REALM))
    db.session.commit()
    assert again.uuid != old_uuid  # QBO would replay its refusal for the old requestid
    assert db.session.query(Outbox).filter_by(uuid=old_uuid).count() == 0
    push_now()
    db.session.expire_all()
    assert len(invoices(emulator)) == 1
    assert db.session.get(Document, document.id).state == "created"


def test_a_pull_that_mirrored_the_invoice_first_does_not_fail_the_recording(
    ctx: t.Any, emulator: t.Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The webhook's pull inserts the new invoice between the push's read of the mirror and its insert."""
    contact = linked_contact()
    document, row = add_document(contact, draft=DRAFT)
    real_get = mirror.get_transaction
    real_upsert = mirror.upsert_transaction
    raced: list[str] = []

    def pull_first(session: t.Any, realm_id: str, entity: str, data: t.Mapping[str, t.Any], **kw: t.Any) -> t.Any:
        if not raced:
            raced.append(str(data["Id"]))
            # the pull's row, there by the time of the insert though not at the read (SQLite's one
            # writer cannot show the two transactions, so the push's own connection writes it)
            session.execute(
                Transaction.__table__.insert().values(
                    realm_id=realm_id, txn_type=entity, qbo_id=str(data["Id"]), deleted=False
                )
            )
            lies = [raced[0]]  # the push's read comes before the pull's insert, once

            def read_before_pull(*a: t.Any) -> t.Any:
                return None if lies and a[3] == lies.pop() else real_get(*a)

            monkeypatch.setattr(mirror, "get_transaction", read_before_pull)
        try:
            return real_upsert(session, realm_id, entity, data, **kw)
        finally:
            monkeypatch.setattr(mirror, "get_transaction", real_get)

    monkeypatch.setattr(mirror, "upsert_transaction", pull_first)
    push_now()
    db.session.expire_all()
    assert raced
    assert db.session.get(Outbox, row.id).status == "done"
    doc = db.session.get(Document, document.id)
    assert (doc.state, doc.qbo_id) == ("created", raced[0])
    [mirrored] = db.session.query(Transaction).filter_by(txn_type="Invoice", qbo_id=raced[0]).all()
    assert mirrored.total is not None  # QBO's answer, written over the pull's row
