"""Quote to cash in a browser (issue 17): a salesperson's invoices and estimates, end to end.

Sam Sales (``sales@acme.test``, whom the demo's ``@qbo.can_bill`` lets bill)
opens a linked contact, fills the New invoice form and saves it; the demo's
runner makes the document in the live emulator, and the emulator's own
pages (the ones a bookkeeper would use) pay the invoice or accept the
estimate.  Their webhooks reach the CRM, whose pull updates the folder the
salesperson has open.  Every figure compared here is read from both screens:
the CRM's live total against the emulator's ``txn-total``.

Each test starts from a freshly seeded, connected and imported demo (the
``imported`` fixture), so each passes alone and in any order.
"""

from __future__ import annotations

import re
import time
import typing as t
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from flask_qbo.emulator.seed import DEMO_REALM

from .conftest import CONTACT_EMAIL
from .conftest import Live
from .conftest import Shot
from .conftest import connect_quickbooks
from .conftest import htmx_settled
from .conftest import import_customers
from .conftest import new_context
from .conftest import sign_in
from .test_demo_browser import open_contact

pytestmark = pytest.mark.browser

SALES = "sales@acme.test"
#: Two non-taxable services of the landscaping catalogue, with their descriptions and prices.
MAINTENANCE = ("Weekly garden maintenance", "Mowing, weeding and edging", Decimal("85"))
DESIGN = ("Landscape design consultation", "Two hours on site", Decimal("150"))
#: Enough for the runner, the emulator and the pull on a loaded two-core machine.
PUSH_SECONDS = 20_000


def amount_of(text: str | None) -> Decimal:
    """``"$1,234.50"`` (or ``"−$3.00"``) as ``Decimal("1234.50")``; the sign is dropped."""
    digits = re.sub(r"[^0-9.]", "", text or "")
    assert digits, f"no amount in {text!r}"
    return Decimal(digits)


def open_billing_contact(page: t.Any, live: Live) -> t.Any:
    """The salesperson signs in and opens the Acme contact linked at import; its folder."""
    sign_in(page, live, SALES)
    open_contact(page, live, CONTACT_EMAIL)
    folder = page.locator("section.qbo-transactions").first
    expect(folder.locator("[data-qbo-new=invoice]")).to_be_visible(timeout=PUSH_SECONDS)
    return folder


def start_document(page: t.Any, kind: str) -> t.Any:
    """Press New invoice / New estimate; the form replaces the folder."""
    page.locator(f"[data-qbo-new={kind}]").click()
    form = page.locator("section.qbo-billing-form")
    expect(form.get_by_role("heading", name=f"New {kind}")).to_be_visible()
    htmx_settled(page)
    return form


def line(page: t.Any, index: int) -> t.Any:
    return page.locator("section.qbo-billing-form tr.qbo-line").nth(index)


def fill_line(page: t.Any, index: int, product: tuple[str, str, Decimal], qty: str) -> None:
    """Choose the item (the server fills description and rate), then type the quantity."""
    htmx_settled(page)  # a choice made before htmx wires the new form is never posted
    line(page, index).locator("select[name$='-item']").select_option(label=product[0])
    # Choosing re-renders the form: wait for the filled description before typing the quantity.
    expect(line(page, index).locator("textarea[name$='-description']")).to_have_value(product[1])
    expect(line(page, index).locator("input[name$='-unit_price']")).to_have_value(re.compile(r"^\d"))
    assert amount_of(line(page, index).locator("input[name$='-unit_price']").input_value()) == product[2]
    htmx_settled(page)  # the re-rendered form recomputes totals only once htmx has wired it
    line(page, index).locator("input[name$='-qty']").fill(qty)
    line(page, index).locator("input[name$='-qty']").press("Tab")  # totals follow a field once it is left


def add_line(page: t.Any) -> None:
    before = page.locator("section.qbo-billing-form tr.qbo-line").count()
    page.get_by_role("button", name="Add line").click()
    expect(page.locator("section.qbo-billing-form tr.qbo-line")).to_have_count(before + 1)
    htmx_settled(page)


def fill_two_lines(page: t.Any) -> Decimal:
    """3 × maintenance and 2 × design, 10 % off; the total the form shows once it is right.

    Like a person, the test reads the totals after each field before typing the next one.
    """
    total = page.locator("section.qbo-billing-form [data-qbo-total=total]")
    fill_line(page, 0, MAINTENANCE, "3")
    expect(total).to_contain_text("255.00")
    add_line(page)
    fill_line(page, 1, DESIGN, "2")
    expect(total).to_contain_text("555.00")
    page.locator("section.qbo-billing-form input[name=discount_percent]").fill("10")
    page.locator("section.qbo-billing-form input[name=discount_percent]").press("Tab")
    expected = (3 * MAINTENANCE[2] + 2 * DESIGN[2]) * Decimal("0.9")
    expect(total).to_contain_text(f"{expected:,.2f}")  # 499.50
    expect(page.locator("section.qbo-billing-form [data-qbo-total=discount]")).to_contain_text("55.50")
    return amount_of(total.inner_text())


def created_document(live: Live, kind: str, seconds: float = 20.0) -> tuple[str, str]:
    """(QBO id, number) of the salesperson's one document of this kind, once QuickBooks made it."""
    from demo_app.models import db
    from flask_qbo.models import Document

    deadline = time.monotonic() + seconds
    while True:
        with live.app.app_context():
            docs = db.session.query(Document).filter_by(kind=kind).all()
            made = [(d.qbo_id, d.doc_number or "") for d in docs if d.qbo_id]
            states = [str(d.state) for d in docs]
            db.session.remove()
        if made:
            assert len(docs) == 1, f"{len(docs)} {kind} documents: {states}"
            return made[0]
        assert time.monotonic() < deadline, f"no {kind} made in QuickBooks after {seconds:.0f}s: {states}"
        time.sleep(0.2)


def mirrored_email_status(live: Live, qbo_id: str) -> str | None:
    """The CRM's transaction mirror's ``EmailStatus`` of an invoice."""
    from demo_app.models import db
    from flask_qbo.models import Transaction

    with live.app.app_context():
        txn = db.session.query(Transaction).filter_by(txn_type="Invoice", qbo_id=qbo_id).one()
        status = txn.email_status
        db.session.remove()
    return status


def folder_row(page: t.Any, number: str) -> t.Any:
    """The folder's row of the transaction with this number."""
    cell = page.locator("td[data-label='No.']", has_text=re.compile(rf"^\s*{re.escape(number)}\s*$"))
    return page.locator("section.qbo-transactions tr.qbo-row").filter(has=cell)


def emulator_txn_url(live: Live, entity: str, qbo_id: str) -> str:
    return f"{live.emu_url}/app/{entity.lower()}?txnId={qbo_id}&companyId={DEMO_REALM}"


def create_invoice(page: t.Any, live: Live, shot: Shot | None = None) -> tuple[str, str, Decimal]:
    """The salesperson makes the two-line, 10 %-off invoice; (QBO id, number, the form's total)."""
    open_billing_contact(page, live)
    start_document(page, "invoice")
    form_total = fill_two_lines(page)
    if shot:
        shot(page, "billing-new-invoice")
    page.get_by_role("button", name="Create invoice").click()
    qbo_id, number = created_document(live, "Invoice")
    row = folder_row(page, number)
    expect(row).to_be_visible(timeout=PUSH_SECONDS)
    expect(row.locator("td[data-label=Amount]")).to_contain_text(f"{form_total:,.2f}")
    return qbo_id, number, form_total


@pytest.mark.usefixtures("imported")
def test_new_invoice_reaches_quickbooks_with_the_forms_total(
    page: t.Any, context: t.Any, live: Live, shot: Shot
) -> None:
    qbo_id, number, form_total = create_invoice(page, live, shot)
    row = folder_row(page, number)
    expect(row.locator("[data-qbo-action=send]")).to_be_visible()
    shot(page, "billing-folder-created")

    qbo = context.new_page()
    qbo.goto(emulator_txn_url(live, "Invoice", qbo_id))
    expect(qbo.get_by_test_id("txn-title")).to_contain_text(number)
    assert Decimal(qbo.get_by_test_id("txn-total").get_attribute("data-amount")) == form_total
    lines = qbo.get_by_test_id("txn-lines")
    expect(lines).to_contain_text(MAINTENANCE[0])
    expect(lines).to_contain_text(DESIGN[0])
    invoice = live.emu.store.read(DEMO_REALM, "Invoice", qbo_id)
    kinds = sorted(x["DetailType"] for x in invoice["Line"] if x["DetailType"] != "SubTotalLineDetail")
    assert kinds == ["DiscountLineDetail", "SalesItemLineDetail", "SalesItemLineDetail"], kinds


@pytest.mark.usefixtures("imported")
def test_send_from_the_row_marks_it_sent_on_both_sides(page: t.Any, context: t.Any, live: Live) -> None:
    qbo_id, number, _ = create_invoice(page, live)
    folder_row(page, number).locator("[data-qbo-action=send]").click()
    send_to = page.get_by_label("Send to")
    expect(send_to).to_have_value(CONTACT_EMAIL)  # prefilled with the invoice's billing e-mail
    # QuickBooks takes its time over this send, so the row's pending state is seen every run.
    live.emu.faults.add_latency(3.0, n=1, path_contains="/send", method="POST")
    page.get_by_role("button", name="Send", exact=True).click()

    row = folder_row(page, number)
    expect(row.locator("[data-qbo-pending]")).to_have_text("Sending…")
    expect(row.locator("[data-qbo-pending]")).to_have_count(0, timeout=PUSH_SECONDS)
    expect(row.locator("[data-qbo-refused]")).to_have_count(0)
    qbo = context.new_page()
    qbo.goto(emulator_txn_url(live, "Invoice", qbo_id))
    expect(qbo.get_by_test_id("txn-fields")).to_contain_text("EmailSent")
    assert live.emu.store.read(DEMO_REALM, "Invoice", qbo_id)["EmailStatus"] == "EmailSent"

    assert mirrored_email_status(live, qbo_id) == "EmailSent"
    page.bring_to_front()
    expect(folder_row(page, number)).to_contain_text(re.compile(r"\bSent\b"))  # the mirror's EmailStatus


@pytest.mark.usefixtures("imported")
def test_paid_in_quickbooks_shows_paid_within_5s(page: t.Any, context: t.Any, live: Live) -> None:
    qbo_id, number, _ = create_invoice(page, live)
    expect(folder_row(page, number).locator(".qbo-badge")).to_have_text("Open")

    qbo = context.new_page()
    qbo.goto(emulator_txn_url(live, "Invoice", qbo_id))
    qbo.get_by_test_id("mark-paid").click()
    expect(qbo.get_by_test_id("txn-status")).to_contain_text(re.compile("paid", re.I))
    paid = time.monotonic()

    page.bring_to_front()
    expect(folder_row(page, number).locator(".qbo-badge").first).to_have_text("Paid", timeout=5_000)
    assert time.monotonic() - paid <= 5.0


@pytest.mark.usefixtures("imported")
def test_accepted_estimate_converts_to_a_linked_invoice(page: t.Any, context: t.Any, live: Live) -> None:
    open_billing_contact(page, live)
    start_document(page, "estimate")
    form_total = fill_two_lines(page)
    page.get_by_role("button", name="Create estimate").click()
    estimate_id, number = created_document(live, "Estimate")
    row = folder_row(page, number)
    expect(row).to_be_visible(timeout=PUSH_SECONDS)
    expect(row.locator("[data-qbo-action=convert]")).to_have_count(0)  # pending: not accepted yet

    qbo = context.new_page()
    qbo.goto(emulator_txn_url(live, "Estimate", estimate_id))
    assert Decimal(qbo.get_by_test_id("txn-total").get_attribute("data-amount")) == form_total
    qbo.get_by_test_id("accept-estimate").click()
    expect(qbo.get_by_test_id("txn-status")).to_contain_text(re.compile("accepted", re.I))

    page.bring_to_front()
    convert = folder_row(page, number).locator("[data-qbo-action=convert]")
    expect(convert).to_be_visible(timeout=PUSH_SECONDS)
    convert.click()
    page.get_by_role("button", name="Convert to invoice").click()

    invoice_id, invoice_number = created_document(live, "Invoice")
    expect(folder_row(page, invoice_number)).to_be_visible(timeout=PUSH_SECONDS)
    expect(folder_row(page, number).locator(".qbo-badge").first).to_have_text(
        re.compile("Closed|Converted"), timeout=PUSH_SECONDS
    )
    invoice = live.emu.store.read(DEMO_REALM, "Invoice", invoice_id)
    assert {"TxnId": estimate_id, "TxnType": "Estimate"} in invoice["LinkedTxn"]
    assert Decimal(str(invoice["TotalAmt"])) == form_total
    qbo.goto(emulator_txn_url(live, "Estimate", estimate_id))
    expect(qbo.get_by_test_id("linked-txns").locator(f"a[href*='txnId={invoice_id}&']")).to_be_visible()


@pytest.fixture
def numbered(live: Live, browser: t.Any) -> None:
    """The demo company numbers its own documents (custom transaction numbers), then connects and imports."""
    prefs = live.emu.store.company(DEMO_REALM).table("Preferences")["1"]
    prefs["SalesFormsPrefs"]["CustomTxnNumbers"] = True
    for step in (connect_quickbooks, import_customers):
        ctx = new_context(browser)
        try:
            step(ctx.new_page(), live)
        finally:
            ctx.close()


@pytest.mark.usefixtures("numbered")
def test_refused_invoice_shows_intuits_message_and_edit_and_retry_creates_it_once(
    page: t.Any, live: Live, shot: Shot
) -> None:
    taken = next(i["DocNumber"] for i in live.emu.store.list(DEMO_REALM, "Invoice") if i.get("DocNumber"))
    before = len(live.emu.store.list(DEMO_REALM, "Invoice"))
    open_billing_contact(page, live)
    start_document(page, "invoice")
    fill_two_lines(page)
    page.locator("section.qbo-billing-form input[name=doc_number]").fill(taken)
    page.get_by_role("button", name="Create invoice").click()

    refused = page.locator(".qbo-document--failed")
    expect(refused).to_be_visible(timeout=PUSH_SECONDS)
    expect(refused).to_contain_text("Refused by QuickBooks")
    expect(refused.locator(".qbo-error")).to_contain_text("Duplicate Document Number")
    shot(page, "billing-refused")

    refused.get_by_role("link", name="Edit and retry").click()
    form = page.locator("section.qbo-billing-form")
    expect(form.get_by_role("heading", name="Edit and retry invoice")).to_be_visible()
    expect(form.locator("input[name=doc_number]")).to_have_value(taken)
    expect(form.locator("tr.qbo-line")).to_have_count(2)
    fresh = f"CRM-{int(time.time()) % 100000}"
    form.locator("input[name=doc_number]").fill(fresh)
    form.get_by_role("button", name="Save and retry").click()

    qbo_id, number = created_document(live, "Invoice")
    assert number == fresh
    expect(folder_row(page, fresh)).to_be_visible(timeout=PUSH_SECONDS)
    expect(page.locator(".qbo-document--failed")).to_have_count(0)
    invoices = live.emu.store.list(DEMO_REALM, "Invoice")
    assert len(invoices) == before + 1
    assert [i["Id"] for i in invoices if i.get("DocNumber") == fresh] == [qbo_id]


@pytest.mark.usefixtures("imported")
def test_the_invoice_form_keeps_every_field_in_view_with_its_errors_and_on_a_phone(page: t.Any, live: Live) -> None:
    """Errors wrap inside their cells (a long one pushed Rate, Amount and Remove out of the form), and on a
    phone each line is a card of full-width fields (the folder's phone rules had squeezed them to slivers)."""
    open_billing_contact(page, live)
    start_document(page, "invoice")
    first = line(page, 0)
    first.locator("input[name$=-qty]").fill("-3")
    first.locator("input[name$=-unit_price]").fill("abc")
    first.locator("textarea").fill("x" * 4100)
    page.get_by_role("button", name="Create invoice").click()
    expect(first.locator(".qbo-field-error").nth(2)).to_be_visible()  # quantity, rate, description (and the item)
    htmx_settled(page)
    wrap = page.locator("section.qbo-billing-form .qbo-table-wrap")
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the lines table overflows its form"
    expect(first.locator(".qbo-action--remove")).to_be_in_viewport()

    page.set_viewport_size({"width": 390, "height": 844})
    for field in ("select[name$=-item]", "input[name$=-qty]", "input[name$=-unit_price]", "textarea"):
        box = first.locator(field).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (field, box)
    assert first.locator(".qbo-item-search").bounding_box()["width"] >= 300
