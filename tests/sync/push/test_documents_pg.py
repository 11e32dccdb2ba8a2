"""Document rows on PostgreSQL: the op filters of the claims and a document's one commit hold there too."""

from __future__ import annotations

import typing as t

from flask_qbo.models import Document
from flask_qbo.models import Outbox
from flask_qbo.models import Transaction
from flask_qbo.sync.push import batch
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import push_now
from tests.hostapp import db
from tests.hostapp import make_app

from .docs_helpers import LINES
from .docs_helpers import add_document
from .docs_helpers import invoices
from .docs_helpers import link_of
from .docs_helpers import new_contact


def test_documents_and_a_backlog_on_postgresql(pg: tuple[str, str], emulator: t.Any, monkeypatch: t.Any) -> None:
    app = make_app(pg[0], QBO_MAX_RETRIES=0)
    attach_emulator(app, emulator)
    connect_tenant(app, emulator, "acme", TEST_REALM)
    claimed: list[int] = []
    real = batch.claim_batch

    def spy(*args: t.Any, **kw: t.Any) -> list[int]:
        ids = real(*args, **kw)
        claimed.extend(ids)
        return ids

    monkeypatch.setattr(batch, "claim_batch", spy)
    with app.app_context():
        contacts = [new_contact(first_name=f"P{i}", email=f"p{i}@example.com") for i in range(12)]
        good, good_row = add_document(contacts[0])  # queued behind the contact's create
        bad_lines = [{**LINES[0], "SalesItemLineDetail": {"ItemRef": {"value": "999"}, "Qty": 2, "UnitPrice": 75}}]
        bad, bad_row = add_document(contacts[1], body={"Line": bad_lines})
        push_now()
        db.session.expire_all()
        assert claimed and not {good_row.id, bad_row.id} & set(claimed)
        [invoice] = invoices(emulator)
        assert invoice["CustomerRef"]["value"] == link_of(contacts[0]).qbo_id
        assert db.session.get(Document, good.id).qbo_id == invoice["Id"]
        assert db.session.query(Transaction).filter_by(qbo_id=invoice["Id"]).one().txn_type == "Invoice"
        assert (db.session.get(Document, bad.id).state, db.session.get(Outbox, bad_row.id).status) == (
            "failed",
            "failed",
        )
        assert link_of(contacts[1]).sync_status == "synced"
        db.session.remove()
    with app.app_context():
        db.engine.dispose()
