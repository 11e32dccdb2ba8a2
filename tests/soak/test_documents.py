"""The soak's document checks can fail: a duplicate, a stuck document and a stale mirror are each reported.

Each test builds a tiny soak (one person), makes one invoice through the
billing core and the push, and then either lets the engine do its job (no
problem reported) or breaks one thing the checks guard.
"""

from __future__ import annotations

import typing as t
import uuid

import pytest

from flask_qbo.models import Document
from flask_qbo.models import Transaction
from flask_qbo.testing import TEST_REALM

from ..hostapp import db
from .soak import Options
from .soak import Soak

pytestmark = [pytest.mark.soak, pytest.mark.timeout(300)]


@pytest.fixture
def soak() -> t.Iterator[Soak]:
    soak = Soak(Options(customers=1, edits=0))
    with soak.app.app_context():
        assert soak.operate("crm_create")
    soak.work(cdc=False)  # the contact's customer exists in QBO
    yield soak
    soak.close()


def _invoice_with_lost_answer(soak: Soak) -> None:
    """Queue an invoice; QBO makes it but the answer is lost; then drain (the retry runs)."""
    with soak.app.app_context():
        assert soak.docs._create("Invoice")
    soak.docs.inject("doc_lost_answer", "/invoice")
    soak.work(cdc=False)
    assert soak.docs.figures()["lost_answers_on_documents"] == 1
    assert len(soak.emu.store.list(TEST_REALM, "Invoice")) == 1
    soak.drain()


def _problems(soak: Soak) -> dict[str, list[str]]:
    return {name: found for name, found in soak.docs.check().items() if found}


def test_a_lost_answer_is_adopted_and_nothing_is_reported(soak: Soak) -> None:
    _invoice_with_lost_answer(soak)
    assert _problems(soak) == {}
    [invoice] = soak.emu.store.list(TEST_REALM, "Invoice")
    with soak.app.app_context():
        [document] = db.session.query(Document).all()
        assert (document.state, document.qbo_id) == ("created", invoice["Id"])


def test_a_retry_with_a_new_requestid_is_a_duplicate(soak: Soak, monkeypatch: pytest.MonkeyPatch) -> None:
    """An executor that forgot the requestid on retry makes a second invoice: the check names it."""
    monkeypatch.setattr("flask_qbo.sync.push.documents.request_id", lambda *args: str(uuid.uuid4()))
    _invoice_with_lost_answer(soak)
    assert len(soak.emu.store.list(TEST_REALM, "Invoice")) == 2
    assert list(_problems(soak)) == ["duplicate_documents"]


def test_a_document_left_sending_is_lost(soak: Soak) -> None:
    with soak.app.app_context():
        assert soak.docs._create("Estimate")
    found = _problems(soak)
    assert list(found) == ["lost_documents"] and "still sending" in found["lost_documents"][0]


def test_a_stale_mirror_is_reported(soak: Soak) -> None:
    _invoice_with_lost_answer(soak)
    [invoice] = soak.emu.store.list(TEST_REALM, "Invoice")
    soak.emu.store.pay_invoice(TEST_REALM, invoice["Id"])  # QBO changes; the CRM is not told
    with soak.app.app_context():
        row = db.session.query(Transaction).filter_by(txn_type="Invoice", qbo_id=invoice["Id"]).one()
        assert row.status == "open"
    found = _problems(soak)
    assert list(found) == ["document_mirror"] and "balance" in found["document_mirror"][0]


def _accepted_estimate(soak: Soak) -> None:
    """An estimate made in QBO, accepted by the customer there, and mirrored as accepted."""
    with soak.app.app_context():
        assert soak.docs._create("Estimate")
    soak.drain()
    with soak.app.app_context():
        assert soak.docs._accept()
    soak.drain()
    with soak.app.app_context():
        assert soak.docs._made("Estimate", "accepted")


def test_a_converted_estimate_is_not_offered_again_while_its_mirror_lags(soak: Soak) -> None:
    """The invoice made from an estimate exists; the estimate's re-read failed, no event came yet: no second Convert."""
    _accepted_estimate(soak)
    soak.emu.webhooks.configure(drop_rate=1.0)  # the estimate's event never comes
    with soak.app.app_context():
        assert soak.docs._convert()
    soak.emu.faults.fail_next(1, status=429, path_contains="/estimate/", method="GET")  # the close's read
    soak.work(cdc=False)
    [invoice] = soak.emu.store.list(TEST_REALM, "Invoice")
    with soak.app.app_context():
        assert db.session.query(Document).filter_by(kind="Invoice", state="created").count() == 1
        second = soak.docs._convert()
    assert not second, "Convert was offered again for an estimate an invoice was made from"
    soak.drain()
    assert _problems(soak) == {}
    [estimate] = soak.emu.store.list(TEST_REALM, "Estimate")
    assert estimate["TxnStatus"] == "Closed" and estimate["LinkedTxn"] == [
        {"TxnId": invoice["Id"], "TxnType": "Invoice"}
    ]
