"""Documents on their way and row actions in the folder: retry/discard, send, payment link, convert, void, delete
(issue 17, items 3-5)."""

from __future__ import annotations

import re
import typing as t

import pytest
from markupsafe import escape

from flask_qbo.billing.actions import NO_EMAIL
from flask_qbo.billing.actions import NO_LINK
from flask_qbo.billing.actions import NOT_PAYABLE
from flask_qbo.billing.actions import UNSAFE
from flask_qbo.billing.actions import PaymentLink
from flask_qbo.emulator.preferences import PREFERENCES_ID
from flask_qbo.errors import QBOTransientError
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.sync.push.doc_contact import IN_REVIEW
from flask_qbo.sync.push.doc_failure import NO_CUSTOMER
from flask_qbo.testing import EMULATOR_BASE_URL
from flask_qbo.testing import TEST_REALM
from flask_qbo.views import billing_actions
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import ACME_USER
from tests.hostapp import db
from tests.views.billing_factories import add_item
from tests.views.billing_factories import add_prefs
from tests.views.billing_factories import allow_billing
from tests.views.billing_factories import invoice_form
from tests.views.billing_factories import token
from tests.widgets.widget_factories import HX
from tests.widgets.widget_factories import add_contact
from tests.widgets.widget_factories import add_txn
from tests.widgets.widget_factories import link_customer

PAID = {"LinkedTxn": [{"TxnId": "9", "TxnType": "Payment"}], "BillEmail": {"Address": "ada@example.com"}}


@pytest.fixture
def contact_id(app: t.Any, connected: t.Any) -> int:
    """A contact with an open invoice 130, a paid invoice 131, an accepted estimate 140 and a pending estimate 141."""
    contact = add_contact(app, email="ada@example.com")
    link_customer(app, contact, email="ada@example.com")
    add_item(app, "1", "Garden design", "75.00")
    add_prefs(app, online_payments=True)
    allow_billing(app, ACME_ADMIN)
    add_txn(
        app,
        "Invoice",
        "130",
        doc_number="1042",
        total="150.00",
        balance="150.00",
        raw={"BillEmail": {"Address": "bill@example.com"}},
    )
    add_txn(app, "Invoice", "131", doc_number="1041", total="80.00", balance="0.00", status="paid", raw=PAID)
    add_txn(app, "Estimate", "140", doc_number="E-7", total="99.00", status="accepted", raw={"Line": []})
    add_txn(app, "Estimate", "141", doc_number="E-8", total="10.00", status="pending", raw={})
    return contact


def _html(response: t.Any) -> str:
    return str(response.get_data(as_text=True))


def _folder(client: t.Any, contact_id: int) -> str:
    return _html(client.get(f"/qbo/w/{contact_id}/transactions", headers=HX))


def _row(folder: str, doc_number: str) -> str:
    """The HTML of the folder row whose number cell is ``doc_number``."""
    marker = f'<td data-label="No.">{doc_number}</td>'
    start = folder.rindex("<tr", 0, folder.index(marker))
    return folder[start : folder.index("</tr>", start)]


def _post(client: t.Any, contact_id: int, path: str, **data: str) -> t.Any:
    return client.post(
        f"/qbo/billing/{contact_id}/{path}", data={"csrf_token": token(client, contact_id), **data}, headers=HX
    )


def _failed_document(app: t.Any, client: t.Any, contact_id: int, message: str) -> int:
    assert _post(client, contact_id, "new/invoice", **invoice_form(customer_memo="Thank you")).status_code == 200
    with app.app_context():
        doc = db.session.query(Document).one()
        doc.state = DocumentState.FAILED
        doc.error_message = message
        for row in db.session.query(Outbox).all():
            row.status = "failed"
        db.session.commit()
        return int(doc.id)


# -- documents QBO has not made -----------------------------------------------------------


def test_refused_document_shows_intuits_message_with_retry_and_discard(
    app: t.Any, client: t.Any, contact_id: int
) -> None:
    login(client, ACME_ADMIN)
    doc_id = _failed_document(app, client, contact_id, "Invalid Reference Id : Line.SalesItemLineDetail.ItemRef")
    folder = _folder(client, contact_id)
    assert "Refused by QuickBooks" in folder and "Invalid Reference Id : Line.SalesItemLineDetail.ItemRef" in folder
    assert f"/qbo/billing/{contact_id}/documents/{doc_id}/edit" in folder and ">Discard</button>" in folder
    login(client, ACME_USER)  # a viewer who may not bill sees the refusal, not the buttons
    folder = _folder(client, contact_id)
    assert "Refused by QuickBooks" in folder and "Edit and retry" not in folder and ">Discard<" not in folder


def test_a_document_stopped_in_the_crm_says_not_sent_never_refused(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    message = "Not sent: the contact could not be added to QuickBooks ([6000] Nope). Fix the contact, then retry."
    doc_id = _failed_document(app, client, contact_id, message)
    with app.app_context():
        db.session.get(Document, doc_id).error_code = NO_CUSTOMER  # type: ignore[union-attr]
        db.session.commit()
    folder = _folder(client, contact_id)
    assert "Not sent to QuickBooks" in folder and message in folder and "Refused by QuickBooks" not in folder
    assert f"/qbo/billing/{contact_id}/documents/{doc_id}/edit" in folder
    form = _html(client.get(f"/qbo/billing/{contact_id}/documents/{doc_id}/edit", headers=HX))
    assert message in form and "QuickBooks refused" not in form


def test_a_document_waiting_for_its_contact_says_why(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    _post(client, contact_id, "new/invoice", **invoice_form())
    with app.app_context():
        db.session.query(Document).one().error_message = IN_REVIEW
        db.session.commit()
    folder = _folder(client, contact_id)
    assert "Sending to QuickBooks…" in folder and IN_REVIEW in folder and "Edit and retry" not in folder


def test_edit_and_retry_reopens_the_draft_and_sends_it_again(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    doc_id = _failed_document(app, client, contact_id, "The item is inactive")
    form = _html(client.get(f"/qbo/billing/{contact_id}/documents/{doc_id}/edit", headers=HX))
    assert "Edit and retry invoice" in form and "QuickBooks refused this invoice: The item is inactive" in form
    assert ">Thank you</textarea>" in form and 'value="2"' in form and 'value="75.00"' in form
    folder = _html(_post(client, contact_id, f"documents/{doc_id}/retry", **invoice_form(**{"line-0-qty": "3"})))
    assert "Sending to QuickBooks…" in folder and "$225.00" in folder
    assert "Invoice saved again; sending it to QuickBooks…" in folder
    with app.app_context():
        doc = db.session.get(Document, doc_id)
        assert doc is not None and doc.state == DocumentState.SENDING and str(doc.total) == "225.00"
        assert db.session.query(Outbox).filter_by(op=OutboxOp.CREATE_DOC, status="pending").count() == 1


def test_discard_drops_the_refused_document(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    doc_id = _failed_document(app, client, contact_id, "Refused")
    folder = _html(_post(client, contact_id, f"documents/{doc_id}/discard"))
    assert "Refused by QuickBooks" not in folder and "Invoice discarded." in folder
    with app.app_context():
        assert db.session.get(Document, doc_id).state == DocumentState.DISCARDED  # type: ignore[union-attr]
    # a discarded (or sending) document cannot be edited or discarded again
    assert client.get(f"/qbo/billing/{contact_id}/documents/{doc_id}/edit").status_code == 404
    assert _post(client, contact_id, f"documents/{doc_id}/discard").status_code == 404


# -- row actions ------------------------------------------------------------------------------


def test_rows_offer_what_quickbooks_would_accept(client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    folder = _folder(client, contact_id)
    actions = {number: set(_actions(_row(folder, number))) for number in ("1042", "1041", "E-7", "E-8")}
    assert actions["1042"] == {"send", "payment_link", "void", "delete"}
    assert actions["1041"] == {"send"}  # paid: no void, no delete, no payment link
    assert actions["E-7"] == {"send", "convert", "delete"}  # accepted: may become an invoice
    assert actions["E-8"] == {"send", "delete"}
    login(client, ACME_USER)
    assert "data-qbo-action" not in _folder(client, contact_id)


def _actions(row: str) -> list[str]:
    import re

    return re.findall(r'data-qbo-action="([a-z_]+)"', row)


def test_send_asks_for_the_address_and_queues_the_send(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/send", headers=HX))
    assert 'name="send_to" maxlength="100" value="bill@example.com"' in panel  # the invoice's own address
    folder = _html(_post(client, contact_id, "txn/Invoice/130/send", send_to="boss@example.com"))
    assert "Sending…" in _row(folder, "1042") and "send" not in _actions(_row(folder, "1042"))
    with app.app_context():
        row = db.session.query(Outbox).one()
        assert row.op == OutboxOp.SEND_DOC
        assert row.target == {"txn_type": "Invoice", "qbo_id": "130", "send_to": "boss@example.com"}


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("not an address", "“not an address” is not an email address"),
        ("a" * 95 + "@example.com", "Keep the email addresses within 100 characters."),
    ],
)
def test_send_refuses_an_address_bill_email_would_refuse(
    app: t.Any, client: t.Any, contact_id: int, typed: str, message: str
) -> None:
    login(client, ACME_ADMIN)
    panel = _html(_post(client, contact_id, "txn/Invoice/130/send", send_to=typed))
    assert message in panel and 'name="send_to"' in panel and 'aria-invalid="true"' in panel
    with app.app_context():
        assert db.session.query(Outbox).count() == 0


@pytest.mark.parametrize(
    ("action", "op", "label"), [("void", OutboxOp.VOID_DOC, "Voiding…"), ("delete", OutboxOp.DELETE_DOC, "Deleting…")]
)
def test_void_and_delete_confirm_then_queue(
    app: t.Any, client: t.Any, contact_id: int, action: str, op: str, label: str
) -> None:
    login(client, ACME_ADMIN)
    panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/{action}", headers=HX))
    assert f"/qbo/billing/{contact_id}/txn/Invoice/130/{action}" in panel and "qbo-button--danger" in panel
    folder = _html(_post(client, contact_id, f"txn/Invoice/130/{action}"))
    row = _row(folder, "1042")
    assert label in row and _actions(row) == []
    with app.app_context():
        assert db.session.query(Outbox).one().op == op


def test_convert_queues_an_invoice_linked_to_the_estimate(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    folder = _html(_post(client, contact_id, "txn/Estimate/140/convert"))
    assert "Converting…" in _row(folder, "E-7") and "convert" not in _actions(_row(folder, "E-7"))
    assert "Sending to QuickBooks…" in folder
    with app.app_context():
        doc = db.session.query(Document).one()
        assert (doc.kind, doc.estimate_qbo_id) == ("Invoice", "140")


def test_an_action_quickbooks_would_refuse_is_not_queued(app: t.Any, client: t.Any, contact_id: int) -> None:
    login(client, ACME_ADMIN)
    answer = _post(client, contact_id, "txn/Invoice/131/void")  # paid
    assert answer.status_code == 200 and "qbo-error" in _html(answer) and "payment was applied" in _html(answer)
    plain = client.post(
        f"/qbo/billing/{contact_id}/txn/Invoice/131/void", data={"csrf_token": token(client, contact_id)}
    )
    assert plain.status_code == 409
    with app.app_context():
        assert db.session.query(Outbox).count() == 0


def test_payment_link_is_read_live_and_shown_to_copy(
    client: t.Any, contact_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    login(client, ACME_ADMIN)
    found = PaymentLink("https://pay.example/130", None)
    monkeypatch.setattr(billing_actions, "payment_link", lambda _client, qbo_id, _emulator: found)
    panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/payment_link", headers=HX))
    assert 'readonly value="https://pay.example/130"' in panel and "data-qbo-copy=" in panel
    for problem in (NO_EMAIL, NOT_PAYABLE, NO_LINK, UNSAFE):  # each says its own reason
        monkeypatch.setattr(billing_actions, "payment_link", lambda _c, _id, _e, p=problem: PaymentLink(None, p))
        panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/payment_link", headers=HX))
        assert f"data-qbo-no-link>{escape(problem)}</p>" in panel and "data-qbo-copy=" not in panel


def test_payment_link_panel_says_when_quickbooks_could_not_be_asked(
    client: t.Any, contact_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(_client: t.Any, _qbo_id: str, _emulator: str | None) -> PaymentLink:
        raise QBOTransientError("Service unavailable", status=503)

    login(client, ACME_ADMIN)
    monkeypatch.setattr(billing_actions, "payment_link", down)
    panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/payment_link", headers=HX))
    assert billing_actions.UNREACHABLE in panel


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("Invoice/130/payment_link", "Payment link for invoice 1042"),
        ("Invoice/130/send", "Send invoice 1042"),
        ("Invoice/130/void", "Void invoice 1042"),
        ("Invoice/130/delete", "Delete invoice 1042"),
        ("Estimate/140/convert", "Convert estimate E-7 to an invoice"),
    ],
)
def test_each_panel_is_headed_by_what_it_does_to_which_document(
    client: t.Any, contact_id: int, monkeypatch: pytest.MonkeyPatch, path: str, heading: str
) -> None:
    login(client, ACME_ADMIN)
    monkeypatch.setattr(billing_actions, "payment_link", lambda _c, _id, _e: PaymentLink(None, NO_LINK))
    panel = _html(client.get(f"/qbo/billing/{contact_id}/txn/{path}", headers=HX))
    assert re.search(r'<h2 class="qbo-heading" id="[^"]*">([^<]*)</h2>', panel).group(1) == heading  # type: ignore[union-attr]
    page = _html(client.get(f"/qbo/billing/{contact_id}/txn/{path}"))  # its own page without JavaScript
    assert f"<title>{heading}" in page


def test_the_emulators_payment_link_reaches_the_panel(
    app: t.Any, client: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """The reviewer's case: the demo's emulator returns its own http:// pay page; it is the link to copy."""
    prefs = emulator.store.company(TEST_REALM).table("Preferences")[PREFERENCES_ID]
    prefs["SalesFormsPrefs"]["ETransactionPaymentEnabled"] = True
    customer = emulator.store.create(
        TEST_REALM, "Customer", {"DisplayName": "Ada", "PrimaryEmailAddr": {"Address": "ada@example.com"}}
    )
    invoice = emulator.store.create(
        TEST_REALM, "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [{"Amount": 150}]}
    )
    contact = add_contact(app, email="ada@example.com")
    link_customer(app, contact, qbo_id=customer["Id"], email="ada@example.com")
    add_prefs(app, online_payments=True)
    allow_billing(app, ACME_ADMIN)
    add_txn(
        app,
        "Invoice",
        invoice["Id"],
        customer_qbo_id=customer["Id"],
        doc_number=invoice["DocNumber"],
        total="150.00",
        balance="150.00",
        raw={"BillEmail": invoice["BillEmail"]},
    )
    login(client, ACME_ADMIN)
    panel = _html(client.get(f"/qbo/billing/{contact}/txn/Invoice/{invoice['Id']}/payment_link", headers=HX))
    link = re.search(r'type="url" readonly value="([^"]*)"', panel)
    assert link, panel
    assert link.group(1).startswith(f"{EMULATOR_BASE_URL}/pay/{TEST_REALM}/{invoice['Id']}/")


def test_action_endpoints_check_permission_csrf_and_ownership(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_txn(app, "Invoice", "150", customer_qbo_id="99", doc_number="X-1")  # another customer's invoice
    login(client, ACME_ADMIN)
    assert client.post(f"/qbo/billing/{contact_id}/txn/Invoice/130/void").status_code == 400  # no token
    assert (
        client.post(f"/qbo/billing/{contact_id}/txn/Invoice/130/void", headers={"X-CSRFToken": "forged"}).status_code
        == 400
    )
    assert client.get(f"/qbo/billing/{contact_id}/txn/Invoice/150/void").status_code == 404
    assert _post(client, contact_id, "txn/Invoice/150/void").status_code == 404
    assert client.get(f"/qbo/billing/{contact_id}/txn/Payment/130/void").status_code == 404
    login(client, ACME_USER)
    assert client.get(f"/qbo/billing/{contact_id}/txn/Invoice/130/send").status_code == 403
    assert _post(client, contact_id, "txn/Invoice/130/void").status_code == 403
    with app.app_context():
        assert db.session.query(Outbox).count() == 0


# -- QBO text is escaped ------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"


def test_item_names_and_messages_are_escaped(app: t.Any, client: t.Any, contact_id: int) -> None:
    add_item(app, "66", SCRIPT, "1.00", description=SCRIPT, sku=SCRIPT)
    login(client, ACME_ADMIN)
    form = _html(client.get(f"/qbo/billing/{contact_id}/new/invoice", headers=HX))
    results = _html(client.get(f"/qbo/billing/{contact_id}/items?line=0&q=script", headers=HX))
    picked = _html(_post(client, contact_id, "new/invoice", kind="Invoice", **{"line-0-item": "", "pick": "0:66"}))
    doc_id = _failed_document(app, client, contact_id, SCRIPT)
    folder = _folder(client, contact_id)
    for page in (form, results, picked, folder):
        assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in results and "&lt;script&gt;" in folder
    assert doc_id


def test_a_refused_action_shows_intuits_message_and_may_be_tried_again(
    app: t.Any, client: t.Any, contact_id: int
) -> None:
    login(client, ACME_ADMIN)
    _post(client, contact_id, "txn/Invoice/130/send", send_to="boss@example.com")
    with app.app_context():
        row = db.session.query(Outbox).one()
        row.status, row.error_code, row.last_error = "failed", "6000", "[6000] Invalid email address"
        db.session.commit()
    row_html = _row(_folder(client, contact_id), "1042")
    assert "Send failed" in row_html and "Invalid email address" in row_html and "[6000]" not in row_html
    assert "Sending…" not in row_html and "send" in _actions(row_html)
    folder = _html(_post(client, contact_id, "txn/Invoice/130/send", send_to="ada@example.com"))
    assert "Send failed" not in _row(folder, "1042") and "Sending…" in _row(folder, "1042")
