"""The demo, driven in a browser the way a new user meets it (issue 9 §3).

Together the tests follow one session at the keyboard: connect, import,
open a contact, edit on both sides, break a push and retry it, then check
what other users may see.  Each starts from a fresh demo and brings it to
the state it needs through the ``connected`` and ``imported`` fixtures, so
each passes alone.  Screenshots go where the ``shot`` fixture says: a
temporary folder, or the docs' images under ``make screenshots``.
"""

from __future__ import annotations

import re
import time
import typing as t

import pytest
import requests
from playwright.sync_api import expect

from .conftest import CONTACT_EMAIL
from .conftest import Live
from .conftest import Shot
from .conftest import connect_quickbooks
from .conftest import import_customers
from .conftest import sign_in

pytestmark = pytest.mark.browser


def open_contact(page: t.Any, live: Live, email: str = CONTACT_EMAIL) -> None:
    """Find a contact with the list's search box and open its dashboard."""
    page.goto(live.url + "/contacts/")
    page.fill("input[name=q]", email)
    page.press("input[name=q]", "Enter")
    page.locator("[data-testid=contacts-table] tbody a").first.click()
    expect(page.locator("[data-testid=contact-name]")).to_be_visible()


def linked_icon(page: t.Any) -> t.Any:
    """The QB icon once it is linked (htmx swaps the placeholder in after load)."""
    icon = page.locator(".qbo-icon[data-qbo-state=linked] a.qbo-icon-link")
    expect(icon).to_be_visible(timeout=10_000)
    return icon


def emulator_customer_url(page: t.Any, live: Live) -> str:
    href = linked_icon(page).get_attribute("href")
    assert href and href.startswith(live.emu_url + "/app/customerdetail?nameId=")
    return href


def wait_until_pushed(live: Live, seconds: float = 30.0) -> None:
    """Wait until the demo's outbox holds nothing to push."""
    from demo_app.models import db
    from flask_qbo.models import Outbox

    deadline = time.monotonic() + seconds
    while True:
        with live.app.app_context():
            busy = db.session.query(Outbox).filter(Outbox.status.in_(("pending", "in_progress"))).count()
            db.session.remove()
        if not busy:
            return
        assert time.monotonic() < deadline, f"{busy} outbox rows still unpushed after {seconds:.0f}s"
        time.sleep(0.2)


def test_admin_connects_quickbooks(page: t.Any, live: Live, shot: Shot) -> None:
    connect_quickbooks(page, live, shot)
    page.goto(live.url + "/admin/addons")
    expect(page.get_by_role("button", name="Connect QuickBooks Account")).to_have_count(0)
    expect(page.get_by_role("link", name="Disconnect", exact=True)).to_be_visible()


@pytest.mark.usefixtures("connected")
def test_initial_import_and_match_review(page: t.Any, live: Live, shot: Shot) -> None:
    import_customers(page, live, shot)
    open_contact(page, live)
    linked_icon(page)


@pytest.mark.usefixtures("imported")
def test_contact_dashboard_icon_card_and_folder(page: t.Any, context: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    open_contact(page, live)
    icon = linked_icon(page)
    expect(page.locator(".qbo-summary")).to_be_visible()
    rows = page.locator(".qbo-row")
    expect(rows.first).to_be_visible(timeout=10_000)
    shot(page, "contact-dashboard")

    with context.expect_page() as tab:
        icon.click()
    customer = tab.value
    customer.wait_for_load_state()
    assert customer.url.startswith(live.emu_url + "/app/customerdetail?nameId=")
    expect(customer.locator("[data-testid=field-PrimaryEmailAddr]")).to_have_text(CONTACT_EMAIL)
    shot(customer, "emulator-customer")

    link = page.locator(".qbo-row a.qbo-action[target=_blank]").first
    with context.expect_page() as tab:
        link.click()
    txn = tab.value
    txn.wait_for_load_state()
    assert re.search(r"/app/[a-z]+\?.*txnId=\d+", txn.url), txn.url
    shot(txn, "emulator-transaction")


@pytest.mark.usefixtures("imported")
def test_crm_edit_shows_in_quickbooks_within_2s(page: t.Any, context: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    open_contact(page, live)
    customer_url = emulator_customer_url(page, live)
    phone = f"(555) 010-{int(time.time()) % 10000:04d}"

    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("#phone", phone)
    page.get_by_role("button", name="Save contact").click()
    saved = time.monotonic()
    expect(page.locator("[data-testid=contact-phone]")).to_have_text(phone)

    qbo = context.new_page()
    seen = ""
    while time.monotonic() - saved < 2.0:
        qbo.goto(customer_url)
        seen = qbo.locator("[data-testid=field-PrimaryPhone]").inner_text()
        if seen == phone:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - saved
    assert seen == phone, f"QuickBooks still shows {seen!r} {elapsed:.1f}s after the save"
    shot(qbo, "emulator-shows-crm-edit")


@pytest.mark.usefixtures("imported")
def test_quickbooks_edit_updates_open_dashboard_within_5s(page: t.Any, context: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    open_contact(page, live)
    customer_url = emulator_customer_url(page, live)
    phone = f"(555) 020-{int(time.time()) % 10000:04d}"

    qbo = context.new_page()
    qbo.goto(customer_url)
    qbo.fill("#PrimaryPhone", phone)
    qbo.get_by_test_id("save-customer").click()
    expect(qbo.locator("[data-testid=field-PrimaryPhone]")).to_have_text(phone)
    saved = time.monotonic()

    expect(page.locator("[data-testid=contact-phone]")).to_have_text(phone, timeout=5_000)
    assert time.monotonic() - saved <= 5.0
    page.bring_to_front()
    shot(page, "dashboard-live-update")


@pytest.mark.usefixtures("imported")
def test_invoice_created_in_quickbooks_appears_in_folder(page: t.Any, context: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    open_contact(page, live)
    customer_url = emulator_customer_url(page, live)
    amount = f"{300 + int(time.time()) % 600}.45"

    qbo = context.new_page()
    qbo.goto(customer_url)
    qbo.fill("#invoice-Description", "Spring garden clean-up")
    qbo.fill("#invoice-Amount", amount)
    qbo.get_by_test_id("create-invoice").click()
    qbo.wait_for_url(re.compile(r".*/app/invoice\?.*txnId=\d+"))
    shot(qbo, "emulator-new-invoice")

    page.bring_to_front()
    row = page.locator(".qbo-row", has_text=amount)
    expect(row).to_be_visible(timeout=12_000)
    expect(row).to_contain_text("Invoice")
    shot(page, "invoice-in-folder")


@pytest.mark.usefixtures("imported")
def test_validation_fault_shows_on_contact_and_retry_fixes_it(page: t.Any, live: Live, shot: Shot) -> None:
    fault = {
        "kind": "fail",
        "n": 1,
        "status": 400,
        "code": "6000",
        "message": "A business validation error has occurred while processing your request",
        "detail": "Business Validation Error: Notes are locked by a company setting.",
        "element": "Notes",
        "path_contains": "/customer",
        "method": "POST",
    }
    sign_in(page, live, "admin@acme.test")
    open_contact(page, live)
    customer_url = emulator_customer_url(page, live)
    notes = f"Call before visiting ({int(time.time())})."
    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("#notes", notes)
    wait_until_pushed(live)  # the fault must meet this edit's push, not one the import queued
    assert requests.post(live.emu_url + "/_emulator/faults", json=fault, timeout=5).status_code == 201
    page.get_by_role("button", name="Save contact").click()

    error = page.locator(".qbo-summary .qbo-error")
    expect(error).to_contain_text("Business Validation Error", timeout=12_000)
    expect(page.locator(".qbo-icon[data-qbo-state=failed]")).to_be_attached(timeout=12_000)
    shot(page, "sync-failed")

    # The fix: the cause is gone (here, the injected fault), so the admin retries the push.
    requests.delete(live.emu_url + "/_emulator/faults", timeout=5)
    page.goto(live.url + "/qbo/admin/health")
    expect(page.get_by_text("Business Validation Error").first).to_be_visible()
    shot(page, "sync-health")
    page.get_by_role("button", name="Retry", exact=True).first.click()

    open_contact(page, live)
    linked_icon(page)
    expect(page.locator(".qbo-summary .qbo-error")).to_have_count(0, timeout=12_000)
    qbo_page = page.context.new_page()
    qbo_page.goto(customer_url)
    expect(qbo_page.locator("[data-testid=field-Notes]")).to_have_text(notes)
    page.bring_to_front()
    shot(page, "sync-retried")


def test_plain_user_has_no_connect_button_and_no_admin_pages(page: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    expect(page.locator("nav.sidebar").get_by_role("link", name="Admin")).to_have_count(0)
    for path in ("/admin/", "/admin/addons", "/qbo/admin/", "/qbo/admin/health", "/qbo/import/"):
        response = page.goto(live.url + path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("button", name=re.compile("Connect QuickBooks"))).to_have_count(0)
    page.goto(live.url + "/admin/addons")
    shot(page, "plain-user-forbidden")


def test_other_account_cannot_see_acme_contacts(page: t.Any, live: Live, shot: Shot) -> None:
    from demo_app.models import Contact
    from demo_app.models import db

    with live.app.app_context():
        acme = db.session.query(Contact).filter_by(email=CONTACT_EMAIL).one()
        acme_id, acme_name = acme.id, acme.display_name

    sign_in(page, live, "user@globex.test")
    expect(page.locator("[data-testid=account-name]")).to_have_text("Globex Supplies")
    page.fill("input[name=q]", CONTACT_EMAIL)
    page.press("input[name=q]", "Enter")
    expect(page.get_by_text("No contacts match")).to_be_visible()
    expect(page.get_by_text(acme_name)).to_have_count(0)

    for path in (f"/contacts/{acme_id}", f"/qbo/w/{acme_id}/summary", f"/qbo/w/{acme_id}/transactions"):
        response = page.goto(live.url + path)
        assert response is not None and response.status == 404, path
    page.goto(live.url + f"/contacts/{acme_id}")
    shot(page, "other-account-404")


@pytest.mark.usefixtures("connected")
def test_disconnect_choices_keep_each_radio_beside_its_words(page: t.Any, live: Live) -> None:
    """The review page's wrapping rules for its choices once reached the disconnect page and put each long
    label on the line below its radio button."""
    sign_in(page, live, "admin@acme.test")
    page.goto(live.url + "/qbo/admin/disconnect")
    choices = page.locator("label.qbo-choice")
    expect(choices).to_have_count(2)
    for choice in choices.all():
        drop = choice.evaluate(
            """label => {
                const words = [...label.childNodes].find(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim());
                const range = document.createRange();
                range.selectNodeContents(words);
                return range.getClientRects()[0].top - label.querySelector("input").getBoundingClientRect().top;
            }"""
        )
        assert abs(drop) < 12, f"the words start {drop:.0f} px below their radio button"
