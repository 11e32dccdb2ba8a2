"""Convert to invoice, driven through the folder against the in-process emulator: in flight, settled, refused.

The reviewer's path: an accepted estimate on the contact's folder, *Convert to
invoice*, QuickBooks makes the invoice.  While the invoice is on its way the
row says "Converting…" and the folder polls every two seconds; once QuickBooks
made it the estimate row shows its final state in QuickBooks' words (*Closed*,
beside the invoice's number) and the folder goes back to its normal poll.
"""

from __future__ import annotations

import re
import typing as t

import pytest

from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import pull_now
from flask_qbo.testing import push_now
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import db
from tests.sync.push.docs_helpers import add_document
from tests.sync.push.docs_helpers import linked_contact
from tests.views.billing_factories import allow_billing
from tests.views.billing_factories import token
from tests.widgets.widget_factories import HX

FAST_POLL = 'hx-trigger="every 2s"'


class Accepted(t.NamedTuple):
    contact_id: int
    estimate_id: str
    number: str


@pytest.fixture
def accepted(app: t.Any, connected: t.Any, emulator: t.Any) -> Accepted:
    """A contact whose customer QuickBooks has, and an estimate of it the customer accepted, mirrored."""
    allow_billing(app, ACME_ADMIN)
    with app.app_context():
        contact = linked_contact()
        document, _ = add_document(contact, kind="Estimate")
        push_now()
        db.session.expire_all()
        made = db.session.get(Document, document.id)
        assert made is not None and made.qbo_id
        estimate_id, number, contact_id = made.qbo_id, str(made.doc_number), int(contact.id)
    current = emulator.store.read(TEST_REALM, "Estimate", estimate_id)
    emulator.store.update(
        TEST_REALM, "Estimate", {"Id": estimate_id, "SyncToken": current["SyncToken"], "TxnStatus": "Accepted"}
    )
    pull_now(app)
    return Accepted(contact_id, estimate_id, number)


def _html(response: t.Any) -> str:
    return str(response.get_data(as_text=True))


def _folder(client: t.Any, contact_id: int) -> str:
    return _html(client.get(f"/qbo/w/{contact_id}/transactions", headers=HX))


def _estimate_row(folder: str, doc_number: str) -> str:
    """The HTML of the folder's estimate row numbered ``doc_number`` (invoices are numbered apart)."""
    rows = re.findall(r"<tr class=\"qbo-row.*?</tr>", folder, re.S)
    (row,) = [r for r in rows if 'data-label="Type">Estimate<' in r and f'data-label="No.">{doc_number}<' in r]
    return row


def _actions(row: str) -> list[str]:
    return re.findall(r'data-qbo-action="([a-z_]+)"', row)


def _convert(client: t.Any, contact_id: int, estimate_id: str) -> str:
    login(client, ACME_ADMIN)
    answer = client.post(
        f"/qbo/billing/{contact_id}/txn/Estimate/{estimate_id}/convert",
        data={"csrf_token": token(client, contact_id)},
        headers=HX,
    )
    assert answer.status_code == 200
    return _html(answer)


def test_a_conversion_in_flight_says_converting_and_polls_quickly(client: t.Any, accepted: Accepted) -> None:
    folder = _convert(client, accepted.contact_id, accepted.estimate_id)
    row = _estimate_row(folder, accepted.number)
    assert "data-qbo-pending>Converting…<" in row and FAST_POLL in folder
    assert "convert" not in _actions(row) and "delete" not in _actions(row)


def test_once_quickbooks_made_the_invoice_the_estimate_is_settled(
    app: t.Any, client: t.Any, emulator: t.Any, accepted: Accepted
) -> None:
    """No "Converting…" badge and no fast poll for as long as the invoice lives; no Convert or Delete either."""
    _convert(client, accepted.contact_id, accepted.estimate_id)
    push_now(app)
    with app.app_context():
        document = db.session.query(Document).filter_by(estimate_qbo_id=accepted.estimate_id).one()
        assert document.state == DocumentState.CREATED
        invoice_number = document.doc_number
    assert emulator.store.read(TEST_REALM, "Estimate", accepted.estimate_id)["TxnStatus"] == "Closed"
    for _ in range(2):  # and again after a reload
        folder = _folder(client, accepted.contact_id)
        row = _estimate_row(folder, accepted.number)
        assert "Converting…" not in row and "data-qbo-pending" not in row
        assert '<span class="qbo-badge qbo-badge--closed">Closed</span>' in row
        assert f"converted to</span> Invoice {invoice_number}</span>" in row
        assert FAST_POLL not in folder and 'hx-trigger="every 5s"' in folder
        assert _actions(row) == ["send"]


def test_a_refused_conversion_says_so_on_the_estimate_and_stops_the_fast_poll(
    app: t.Any, client: t.Any, emulator: t.Any, accepted: Accepted
) -> None:
    app.config["QBO_MAX_RETRIES"] = 0
    _convert(client, accepted.contact_id, accepted.estimate_id)
    emulator.faults.fail_next(
        status=400, code="6000", message="The item is inactive", method="POST", path_contains="/invoice"
    )
    push_now(app)
    folder = _folder(client, accepted.contact_id)
    row = _estimate_row(folder, accepted.number)
    assert "Refused by QuickBooks" in folder and "Edit and retry" in folder  # the invoice, above the table
    assert "Conversion failed</span>" in row and "The item is inactive" in row and "Converting…" not in row
    assert FAST_POLL not in folder
    assert "convert" not in _actions(row) and "delete" not in _actions(row)  # retry or discard the invoice first
