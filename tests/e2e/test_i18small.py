"""Issue 18 §9 and §10 in a browser: the small things a new admin and a salesperson trip over.

A cancelled Intuit sign-in lands back on the CRM's Add-ons & API page with a
message, the sidebar reaches sync health, the Statement tab downloads a PDF,
every "administrators only" page reads the same, the avatar shows letters,
emails and phone numbers stay whole, and the emulator's company step takes a
typed company name.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from playwright.sync_api import expect

from flask_qbo.emulator.seed import DEMO_COMPANY_NAME
from flask_qbo.emulator.seed import DEMO_REALM

from .conftest import CONTACT_EMAIL
from .conftest import Live
from .conftest import Shot
from .conftest import sign_in

pytestmark = pytest.mark.browser


#: The character each rendered line of an element ends with, but the last: where the browser wrapped it.
LINE_BREAKS = """el => {
  const ends = [], range = document.createRange(), walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let top = null, last = null;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      range.setStart(node, i); range.setEnd(node, i + 1);
      const rect = range.getClientRects()[0];
      if (!rect) continue;
      if (top !== null && rect.top > top + 1) ends.push(last);
      top = rect.top; last = node.data[i];
    }
  }
  return ends;
}"""


def _set_contact(live: Live, current_email: str, **values: str) -> int:
    """Change a demo contact in the database; returns its id."""
    from demo_app.models import Contact
    from demo_app.models import db

    with live.app.app_context():
        contact = db.session.query(Contact).filter_by(email=current_email).one()
        for key, value in values.items():
            setattr(contact, key, value)
        db.session.commit()
        contact_id = int(contact.id)
        db.session.remove()
    return contact_id


def _to_intuit(page: t.Any, live: Live) -> None:
    sign_in(page, live, "admin@acme.test")
    page.get_by_role("link", name="Admin", exact=True).click()
    page.locator("nav.sidebar").get_by_role("link", name="Add-ons & API").click()
    page.get_by_role("button", name="Connect QuickBooks Account").click()
    page.wait_for_url(live.emu_url + "/connect/oauth2**")


def test_cancelled_sign_in_lands_back_on_add_ons_and_api(page: t.Any, live: Live, shot: Shot) -> None:
    _to_intuit(page, live)
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(live.url + "/admin/addons")
    expect(page.get_by_role("status")).to_contain_text("Connection cancelled.")
    expect(page.get_by_role("heading", name="API access")).to_be_visible()  # the CRM's page, not /qbo/admin/
    expect(page.get_by_role("button", name="Connect QuickBooks Account")).to_be_visible()
    shot(page, "connect-cancelled")
    page.reload()
    expect(page.get_by_text("Connection cancelled.")).to_have_count(0)  # said once


def test_company_step_takes_a_typed_company_name(page: t.Any, live: Live) -> None:
    from demo_app.models import db
    from flask_qbo.models import Connection

    _to_intuit(page, live)
    page.fill("#email", live.emu.config.default_user[0])
    page.fill("#password", live.emu.config.default_user[1])
    page.press("#password", "Enter")  # Enter signs in (the primary button comes first)
    expect(page.locator("#realm")).to_be_visible()
    page.fill("#company_name", "Nobody's Books")
    page.press("#company_name", "Enter")
    expect(page.get_by_role("alert")).to_contain_text("None of your companies is called")
    page.fill("#company_name", DEMO_COMPANY_NAME.upper())
    page.press("#company_name", "Enter")
    page.wait_for_url(live.url + "/**")
    with live.app.app_context():
        conn = db.session.query(Connection).one()
        assert (conn.realm_id, conn.status) == (DEMO_REALM, "connected")
        db.session.remove()


def test_sidebar_reaches_sync_health_for_admins_only(page: t.Any, live: Live) -> None:
    sign_in(page, live, "admin@acme.test")
    page.locator("nav.sidebar").get_by_role("link", name="Sync health").click()
    expect(page.get_by_role("heading", name="QuickBooks sync health")).to_be_visible()
    expect(page.locator("nav.sidebar a.active", has_text="Sync health")).to_have_count(1)
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live, "user@acme.test")
    expect(page.locator("nav.sidebar").get_by_role("link", name="Sync health")).to_have_count(0)


def _contact_with_open_invoices(live: Live) -> str:
    """The key of a linked contact whose customer has open invoices (the statement has lines)."""
    from demo_app.models import db
    from flask_qbo.models import Customer
    from flask_qbo.models import Transaction

    with live.app.app_context():
        key = (
            db.session.query(Customer.contact_key)
            .join(Transaction, Transaction.customer_qbo_id == Customer.qbo_id)
            .filter(Customer.contact_key.isnot(None), Transaction.txn_type == "Invoice", Transaction.balance > 0)
            .order_by(Customer.contact_key)
            .first()
        )
        db.session.remove()
    assert key is not None, "no linked contact owes money"
    return str(key[0])


@pytest.mark.usefixtures("imported")
def test_statement_tab_downloads_a_pdf(page: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    page.goto(live.url + f"/contacts/{_contact_with_open_invoices(live)}")
    page.locator(".qbo-tabs").get_by_role("link", name="Statement").click()
    download_link = page.get_by_role("link", name=re.compile("Download PDF"))
    expect(download_link).to_be_visible()
    page.locator(".qbo-statement").scroll_into_view_if_needed()
    shot(page, "statement-tab")
    with page.expect_download() as download:
        download_link.click()
    assert re.fullmatch(r"statement-.+-\d{4}-\d\d-\d\d\.pdf", download.value.suggested_filename)
    body = open(download.value.path(), "rb").read()
    assert body.startswith(b"%PDF-1.4") and b"(Statement)" in body and b"Balance due:" in body
    assert b"(Invoice)" in body  # its open invoices are listed


def test_admin_pages_refuse_a_salesperson_with_one_page(page: t.Any, live: Live) -> None:
    sign_in(page, live, "user@acme.test")
    pages = []
    for path in ("/admin/addons", "/qbo/admin/", "/qbo/import/"):
        response = page.goto(live.url + path)
        assert response is not None and response.status == 403, path
        pages.append(page.locator("main").inner_text())
    assert pages[0].startswith("Administrators only") and len(set(pages)) == 1, pages


def test_avatar_letters_and_whole_emails_and_phones(page: t.Any, live: Live) -> None:
    email = "accounts.payable.department.for.all.garden.projects@" + CONTACT_EMAIL.split("@")[1]
    contact_id = _set_contact(
        live, CONTACT_EMAIL, first_name="<Oscar>", last_name="Wilde", email=email, phone="+1 (555) 010-0199"
    )
    page.set_viewport_size({"width": 900, "height": 800})
    sign_in(page, live, "user@acme.test")
    page.goto(live.url + f"/contacts/{contact_id}")
    expect(page.locator(".avatar")).to_have_text("OW")
    email_dd = page.locator("[data-testid=contact-email]")
    phone_dd = page.locator("[data-testid=contact-phone]")
    expect(email_dd).to_have_text(email)  # whole, never cut with an ellipsis
    expect(phone_dd).to_have_text("+1 (555) 010-0199")
    breaks = email_dd.evaluate(LINE_BREAKS)
    assert breaks, "the address fits on one line: the test would prove nothing"
    assert set(breaks) <= {"@", "."}, breaks  # each line ends after "@" or ".", never mid-word
    assert email_dd.evaluate("e => e.scrollWidth <= e.clientWidth")  # nothing spills out of the column
