"""Actions on mirrored documents: QBO's rules (table-driven), queueing, conversion and the payment link."""

from __future__ import annotations

import typing as t

import pytest
from sqlalchemy.orm import Session

from flask_qbo.billing.actions import NO_EMAIL
from flask_qbo.billing.actions import NO_LINK
from flask_qbo.billing.actions import NOT_PAYABLE
from flask_qbo.billing.actions import UNSAFE
from flask_qbo.billing.actions import PaymentLink
from flask_qbo.billing.actions import allowed_actions
from flask_qbo.billing.actions import convert_estimate
from flask_qbo.billing.actions import converted_estimates
from flask_qbo.billing.actions import draft_from_estimate
from flask_qbo.billing.actions import payment_link
from flask_qbo.billing.actions import pending_actions
from flask_qbo.billing.actions import queue_action
from flask_qbo.billing.catalog import Prefs
from flask_qbo.billing.problems import ActionRefused
from flask_qbo.config import emulator_url
from flask_qbo.emulator.preferences import PREFERENCES_ID
from flask_qbo.models import Customer
from flask_qbo.models import Document
from flask_qbo.models import DocumentState
from flask_qbo.models import Outbox
from flask_qbo.models import OutboxOp
from flask_qbo.models import OutboxStatus
from flask_qbo.models import Transaction
from flask_qbo.state import get_qbo
from flask_qbo.testing import EMULATOR_BASE_URL
from flask_qbo.testing import TEST_REALM
from tests.intuit.test_client import params
from tests.intuit.test_client import record

from .helpers import D
from .helpers import catalog
from .helpers import txn

PAYMENTS = Prefs(online_payments=True)
PAID_LINK = {"BillEmail": {"Address": "a@b.example"}, "LinkedTxn": [{"TxnId": "9", "TxnType": "Payment"}]}
INVOICED = {"LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}


class Case(t.NamedTuple):
    txn: Transaction
    expected: list[str]
    prefs: Prefs = PAYMENTS
    pending: frozenset[OutboxOp] = frozenset()
    converted: bool = False


CASES = {
    "open invoice": Case(txn(), ["send", "payment_link", "void", "delete", "pdf"]),
    "open invoice, no online payments": Case(txn(), ["send", "void", "delete", "pdf"], prefs=Prefs()),
    "open invoice, no bill email": Case(txn(raw={}), ["send", "void", "delete", "pdf"]),
    "overdue invoice": Case(txn(status="overdue"), ["send", "payment_link", "void", "delete", "pdf"]),
    "partly paid invoice": Case(txn(status="partially_paid", balance="40"), ["send", "payment_link", "pdf"]),
    "paid invoice": Case(txn(status="paid", balance="0"), ["send", "pdf"]),
    "payment linked, balance not yet moved": Case(txn(raw=PAID_LINK), ["send", "payment_link", "pdf"]),
    "void invoice": Case(txn(status="void", total="0"), ["delete", "pdf"]),
    "deleted invoice": Case(txn(deleted=True), []),
    "send queued": Case(txn(), ["payment_link", "void", "delete", "pdf"], pending=frozenset({OutboxOp.SEND_DOC})),
    "void queued": Case(txn(), ["pdf"], pending=frozenset({OutboxOp.VOID_DOC})),
    "delete queued": Case(txn(), ["pdf"], pending=frozenset({OutboxOp.DELETE_DOC})),
    "pending estimate": Case(txn("Estimate", status="pending"), ["send", "delete", "pdf"]),
    "accepted estimate": Case(txn("Estimate", status="accepted"), ["send", "convert", "delete", "pdf"]),
    "accepted estimate, invoice linked": Case(txn("Estimate", status="accepted", raw=INVOICED), ["send", "pdf"]),
    "accepted estimate, conversion on its way": Case(
        txn("Estimate", status="accepted"), ["send", "pdf"], pending=frozenset({OutboxOp.CREATE_DOC})
    ),
    "accepted estimate, converted, mirror not linked yet": Case(
        txn("Estimate", status="accepted"), ["send", "pdf"], converted=True
    ),
    # QuickBooks deletes a linked estimate only once unlinked; a Converted one is linked to its invoice.
    "estimate QBO calls Converted": Case(
        txn("Estimate", status="closed", raw={"TxnStatus": "Converted"}), ["send", "pdf"]
    ),
    # The facts are silent on sending or deleting an estimate closed by hand (no invoice): both stay.
    "closed estimate": Case(txn("Estimate", status="closed"), ["send", "delete", "pdf"]),
    "rejected estimate": Case(txn("Estimate", status="rejected"), ["send", "delete", "pdf"]),
    "a payment": Case(txn("Payment", status="applied"), []),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_allowed_actions(case: Case) -> None:
    assert allowed_actions(case.txn, case.prefs, case.pending, converted=case.converted) == case.expected


# -- queueing -------------------------------------------------------------------------


def queue(session: Session, document: Transaction, action: str, send_to: str | None = None) -> Outbox:
    return queue_action(session, tenant_key="acme", contact_key="c1", txn=document, action=action, send_to=send_to)


def test_send_queues_a_row_to_the_bill_email_or_the_address_given(session: Session) -> None:
    row = queue(session, txn(), "send")
    assert row.op == OutboxOp.SEND_DOC and row.status == OutboxStatus.PENDING
    assert row.target == {"txn_type": "Invoice", "qbo_id": "130", "send_to": "ada@example.com"}
    other = queue(session, txn("Estimate", qbo_id="41"), "send", send_to=" grace@example.org ")
    assert other.target == {"txn_type": "Estimate", "qbo_id": "41", "send_to": "grace@example.org"}
    assert (other.tenant_key, other.contact_key) == ("acme", "c1")


def test_send_needs_a_valid_address(session: Session) -> None:
    with pytest.raises(ActionRefused, match="Enter an email address"):
        queue(session, txn(raw={}), "send")
    with pytest.raises(ActionRefused, match="is not an email address"):
        queue(session, txn(), "send", send_to="nobody")
    assert session.query(Outbox).count() == 0


def test_void_and_delete_rows(session: Session) -> None:
    assert queue(session, txn(), "void").target == {"txn_type": "Invoice", "qbo_id": "130"}
    row = queue(session, txn("Estimate", qbo_id="41"), "delete")
    assert row.op == OutboxOp.DELETE_DOC and row.target == {"txn_type": "Estimate", "qbo_id": "41"}


@pytest.mark.parametrize(
    ("document", "action", "message"),
    [
        (txn(status="paid", balance="0"), "void", "A payment was applied to this invoice"),
        (txn(status="partially_paid", balance="1"), "delete", "A payment was applied to this invoice"),
        (txn("Estimate", status="accepted"), "void", "Only invoices can be voided"),
        (txn(status="void", total="0"), "send", "This invoice is void."),
        (txn(deleted=True), "send", "This invoice was deleted in QuickBooks."),
        (txn("Estimate", raw=INVOICED), "delete", "an invoice is linked to it"),
        (txn(), "payment_link", "is not an action that can be queued"),
        (txn(), "convert", "is not an action that can be queued"),
    ],
)
def test_queue_action_refuses_what_qbo_would(
    session: Session, document: Transaction, action: str, message: str
) -> None:
    with pytest.raises(ActionRefused, match=message):
        queue(session, document, action)
    assert session.query(Outbox).count() == 0


def test_a_queued_action_is_not_queued_twice(session: Session) -> None:
    queue(session, txn(), "void")
    with pytest.raises(ActionRefused, match="already has an action on its way"):
        queue(session, txn(), "void")
    with pytest.raises(ActionRefused, match="already has an action on its way"):
        queue(session, txn(), "send")
    assert pending_actions(session, "acme", "c1") == {("Invoice", "130"): {OutboxOp.VOID_DOC}}


def test_pending_actions_ignore_finished_rows_and_other_contacts(session: Session) -> None:
    queue(session, txn(), "send").status = OutboxStatus.DONE
    queue(session, txn(qbo_id="131"), "send").status = OutboxStatus.FAILED  # refused: may be tried again
    queue(session, txn(qbo_id="133"), "send").status = OutboxStatus.IN_PROGRESS
    queue_action(session, tenant_key="acme", contact_key="c2", txn=txn(qbo_id="132"), action="void")
    session.flush()
    assert pending_actions(session, "acme", "c1") == {("Invoice", "133"): {OutboxOp.SEND_DOC}}


def test_a_new_try_replaces_the_refused_row(session: Session) -> None:
    refused = queue(session, txn(), "send", send_to="typo@example.con")
    refused.status = OutboxStatus.FAILED
    kept = queue(session, txn(qbo_id="131"), "send")
    kept.status = OutboxStatus.FAILED  # another invoice's refusal stays
    session.flush()
    again = queue(session, txn(), "send", send_to="ada@example.com")
    session.flush()
    rows = {row.id: row for row in session.query(Outbox)}
    assert sorted(rows) == sorted([kept.id, again.id])
    assert rows[again.id].target == {"txn_type": "Invoice", "qbo_id": "130", "send_to": "ada@example.com"}


# -- conversion -----------------------------------------------------------------------

ESTIMATE_RAW: dict[str, t.Any] = {
    "Line": [
        {
            "Id": "1",
            "DetailType": "SalesItemLineDetail",
            "Amount": 1000.7,
            "Description": "Design",
            "SalesItemLineDetail": {
                "ItemRef": {"value": "1", "name": "Design"},
                "Qty": 3,
                "UnitPrice": 333.565,
                "TaxCodeRef": {"value": "TAX"},
            },
        },
        {
            "DetailType": "GroupLineDetail",
            "GroupLineDetail": {
                "GroupItemRef": {"value": "20"},
                "Line": [
                    {
                        "DetailType": "SalesItemLineDetail",
                        "Amount": 4.5,
                        "SalesItemLineDetail": {"ItemRef": {"value": "2"}, "Qty": 3, "UnitPrice": 1.5},
                    }
                ],
            },
        },
        {"DetailType": "SubTotalLineDetail", "Amount": 1005.2, "SubTotalLineDetail": {}},
        {
            "DetailType": "DiscountLineDetail",
            "Amount": 100.52,
            "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 10},
        },
    ],
    "CustomerMemo": {"value": "See you soon"},
    "BillEmail": {"Address": "ada@example.com"},
    "SalesTermRef": {"value": "3"},
    "CurrencyRef": {"value": "USD"},
    "TxnStatus": "Accepted",
}


def test_draft_from_estimate_copies_lines_discount_and_fields() -> None:
    got = draft_from_estimate(txn("Estimate", qbo_id="41", status="accepted", raw=ESTIMATE_RAW))
    assert got.kind == "Invoice" and got.estimate_qbo_id == "41"
    assert [(ln.item_id, ln.qty, ln.unit_price, ln.amount, ln.tax_code_id) for ln in got.lines] == [
        ("1", D("3"), D("333.565"), D("1000.70"), "TAX"),
        ("2", D("3"), D("1.5"), D("4.50"), None),
    ]
    assert got.lines[0].description == "Design"
    assert got.discount_percent == D("10") and got.discount_amount is None
    assert (got.customer_memo, got.bill_email, got.terms_id, got.currency) == (
        "See you soon",
        "ada@example.com",
        "3",
        "USD",
    )


def test_convert_estimate_queues_a_linked_invoice(session: Session) -> None:
    estimate = txn("Estimate", qbo_id="41", status="accepted", raw=ESTIMATE_RAW)
    doc = convert_estimate(
        session,
        tenant_key="acme",
        contact_key="c1",
        estimate=estimate,
        catalog=catalog(tax_model="us_ast"),
        created_by="ada",
    )
    session.commit()
    assert doc.kind == "Invoice" and doc.estimate_qbo_id == "41"
    assert doc.body["LinkedTxn"] == [{"TxnId": "41", "TxnType": "Estimate"}]
    assert [entry.get("Amount") for entry in doc.body["Line"]] == [1000.7, 4.5, 100.52]
    assert session.query(Outbox).one().target == {"document_id": doc.id}
    # The conversion on its way hides "convert": a second one is refused.
    assert pending_actions(session, "acme", "c1") == {("Estimate", "41"): {OutboxOp.CREATE_DOC}}
    assert converted_estimates(session, "acme", "c1") == {"41"}
    with pytest.raises(ActionRefused):
        convert_estimate(
            session, tenant_key="acme", contact_key="c1", estimate=estimate, catalog=catalog(), created_by="ada"
        )
    assert session.query(Document).count() == 1


def test_an_estimate_already_converted_offers_no_convert_or_delete_though_it_still_reads_accepted(
    session: Session,
) -> None:
    """Closing the estimate after the conversion failed: it reads *Accepted*, and its invoice exists."""
    estimate = txn("Estimate", qbo_id="41", status="accepted", raw=ESTIMATE_RAW)
    doc = convert_estimate(
        session, tenant_key="acme", contact_key="c1", estimate=estimate, catalog=catalog(), created_by="ada"
    )
    session.query(Outbox).delete()
    doc.state, doc.qbo_id = DocumentState.CREATED, "150"
    session.commit()
    assert pending_actions(session, "acme", "c1") == {}  # settled: nothing on its way, no "Converting…"
    assert converted_estimates(session, "acme", "c1") == {"41"}
    assert allowed_actions(estimate, PAYMENTS, set(), converted=True) == ["send", "pdf"]
    with pytest.raises(ActionRefused, match="an invoice is linked"):
        queue(session, estimate, "delete")
    with pytest.raises(ActionRefused):
        convert_estimate(
            session, tenant_key="acme", contact_key="c1", estimate=estimate, catalog=catalog(), created_by="ada"
        )


def test_an_estimate_a_mirrored_invoice_links_to_is_converted(session: Session) -> None:
    """Converted elsewhere (QBO's screens, another CRM user): the invoice's LinkedTxn names the estimate."""
    session.add(Customer(tenant_key="acme", contact_key="c1", realm_id=TEST_REALM, qbo_id="58"))
    session.add(txn("Invoice", qbo_id="150", raw={"LinkedTxn": [{"TxnId": "41", "TxnType": "Estimate"}]}))
    session.add(txn("Invoice", qbo_id="151", raw={"LinkedTxn": [{"TxnId": "42", "TxnType": "Estimate"}]}, deleted=True))
    session.commit()
    assert converted_estimates(session, "acme", "c1") == {"41"}  # a deleted invoice converts nothing
    assert converted_estimates(session, "acme", "other") == set()
    assert pending_actions(session, "acme", "c1") == {}  # made long ago: nothing is on its way


@pytest.mark.parametrize(
    ("state", "pending", "converted"),
    [
        (DocumentState.SENDING, {("Estimate", "41"): {OutboxOp.CREATE_DOC}}, {"41"}),
        (DocumentState.FAILED, {}, {"41"}),  # refused: awaits Edit and retry or Discard, nothing in flight
        (DocumentState.CREATED, {}, {"41"}),  # made, and its invoice stands (not mirrored yet)
        (DocumentState.DISCARDED, {}, set()),  # given up: the estimate may be converted again
    ],
)
def test_only_a_conversion_being_sent_is_pending(
    session: Session, state: DocumentState, pending: dict[t.Any, t.Any], converted: set[str]
) -> None:
    estimate = txn("Estimate", qbo_id="41", status="accepted", raw=ESTIMATE_RAW)
    doc = convert_estimate(
        session, tenant_key="acme", contact_key="c1", estimate=estimate, catalog=catalog(), created_by="ada"
    )
    session.query(Outbox).delete()
    doc.state = state
    session.commit()
    assert pending_actions(session, "acme", "c1") == pending
    assert converted_estimates(session, "acme", "c1") == converted


@pytest.mark.parametrize("status", ["pending", "closed", "rejected"])
def test_only_accepted_estimates_convert(session: Session, status: str) -> None:
    with pytest.raises(ActionRefused, match="accepted estimate"):
        convert_estimate(
            session,
            tenant_key="acme",
            contact_key="c1",
            estimate=txn("Estimate", status=status, raw=ESTIMATE_RAW),
            catalog=catalog(),
            created_by=None,
        )


# -- the payment link -----------------------------------------------------------------


class FakeClient:
    def __init__(self, answer: dict[str, t.Any]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str | None]] = []

    def read(self, entity: str, id: str, include: str | None = None) -> dict[str, t.Any]:
        self.calls.append((entity, id, include))
        return self.answer


EMAIL = {"BillEmail": {"Address": "ap@example.com"}}
INTUIT_LINK = "https://connect.intuit.com/portal/app/CommerceNetwork/view/abc"
EMULATOR = "http://127.0.0.1:5055"


@pytest.mark.parametrize(
    ("answer", "emulator_url", "expected"),
    [
        ({**EMAIL, "InvoiceLink": INTUIT_LINK}, None, PaymentLink(INTUIT_LINK, None)),
        ({**EMAIL, "InvoiceLink": INTUIT_LINK}, EMULATOR, PaymentLink(INTUIT_LINK, None)),
        ({"InvoiceLink": ""}, None, PaymentLink(None, NO_EMAIL)),
        ({}, None, PaymentLink(None, NO_EMAIL)),
        (
            {**EMAIL, "AllowOnlineCreditCardPayment": False, "AllowOnlineACHPayment": False},
            None,
            PaymentLink(None, NOT_PAYABLE),
        ),
        ({**EMAIL, "AllowOnlineCreditCardPayment": False}, None, PaymentLink(None, NO_LINK)),
        (EMAIL, None, PaymentLink(None, NO_LINK)),
        ({**EMAIL, "InvoiceLink": "javascript:alert(1)"}, EMULATOR, PaymentLink(None, UNSAFE)),
        # The emulator's own pay page over plain HTTP: shown only when the host talks to that emulator.
        (
            {**EMAIL, "InvoiceLink": f"{EMULATOR}/pay/1/130/tok"},
            EMULATOR,
            PaymentLink(f"{EMULATOR}/pay/1/130/tok", None),
        ),
        ({**EMAIL, "InvoiceLink": f"{EMULATOR}/pay/1/130/tok"}, None, PaymentLink(None, UNSAFE)),
        ({**EMAIL, "InvoiceLink": "http://127.0.0.1:5055.evil.example/pay"}, EMULATOR, PaymentLink(None, UNSAFE)),
        ({**EMAIL, "InvoiceLink": "http://127.0.0.1:5055@evil.example/pay"}, EMULATOR, PaymentLink(None, UNSAFE)),
        ({**EMAIL, "InvoiceLink": "http://evil.example/pay"}, EMULATOR, PaymentLink(None, UNSAFE)),
    ],
)
def test_payment_link_reads_the_invoice_with_include(
    answer: dict[str, t.Any], emulator_url: str | None, expected: PaymentLink
) -> None:
    client = FakeClient(answer)
    assert payment_link(client, "130", emulator_url) == expected  # type: ignore[arg-type]
    assert client.calls == [("Invoice", "130", "invoiceLink")]


def test_payment_link_asks_qbo_for_the_link(app: t.Any, emulator: t.Any, connected: t.Any) -> None:
    recorder = record(app, emulator)
    with app.app_context():
        client = get_qbo(app).client(connected)
        customer = client.create("Customer", {"DisplayName": "Ada"})
        invoice = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [{"Amount": 10}]})
        link = payment_link(client, invoice["Id"], emulator_url())
    [request] = recorder.matching(f"/invoice/{invoice['Id']}?")
    assert params(request)["include"] == ["invoiceLink"]
    assert link == PaymentLink(None, NO_EMAIL)


def test_the_emulators_payment_link_is_shown_when_the_host_talks_to_it(
    app: t.Any, emulator: t.Any, connected: t.Any
) -> None:
    """The emulator serves its pay page over plain HTTP at its own address, as configured in QBO_EMULATOR_URL."""
    prefs = emulator.store.company(TEST_REALM).table("Preferences")[PREFERENCES_ID]
    prefs["SalesFormsPrefs"]["ETransactionPaymentEnabled"] = True
    with app.app_context():
        client = get_qbo(app).client(connected)
        customer = client.create("Customer", {"DisplayName": "Ada", "PrimaryEmailAddr": {"Address": "ap@example.com"}})
        invoice = client.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [{"Amount": 10}]})
        link = payment_link(client, invoice["Id"], emulator_url())
        app.config["QBO_ENVIRONMENT"] = "sandbox"  # the same link from anything but the emulator: refused
        refused = payment_link(client, invoice["Id"], emulator_url())
    assert link.problem is None and link.url is not None
    assert link.url.startswith(f"{EMULATOR_BASE_URL}/pay/{TEST_REALM}/{invoice['Id']}/")
    assert refused == PaymentLink(None, UNSAFE)
