"""The first sync in a browser (issue 18 §1 and §3), the way a new admin meets it.

Connecting lands on the connected page, which reads the company while it
polls and then says what it found; the counts are worked out here from the
demo's own data (the emulator's customers and Acme's contacts), not copied
from the page.  One button links the exact matches, and a linked contact's
dashboard then shows the customer's card and transactions.  The import page
of a fetched run reads "finished" after a reload, with a bar as wide as its card.
"""

from __future__ import annotations

import re
import typing as t

import pytest
from playwright.sync_api import expect

from flask_qbo.emulator.seed import DEMO_REALM

from .conftest import CONTACT_EMAIL
from .conftest import Live
from .conftest import Shot
from .conftest import connect_quickbooks
from .conftest import sign_in

pytestmark = pytest.mark.browser


def _words(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "", (text or "").lower())


def _digits(text: str | None) -> str:
    return re.sub(r"\D", "", text or "")[-10:]


def expected_counts(live: Live) -> dict[str, int]:
    """What the first sync should report, from the seed: exact e-mail, needs review, new.

    A customer is *exact* when its e-mail address belongs to one Acme contact
    and to no other active customer; *review* when that address is shared, or
    only its phone or name matches a contact; *new* otherwise.
    """
    from demo_app.models import Account
    from demo_app.models import Contact
    from demo_app.models import db

    with live.app.app_context():
        acme = db.session.query(Account).filter_by(name="Acme Landscaping").one()
        contacts = db.session.query(Contact).filter_by(account_id=acme.id).all()
        emails = [(c.email or "").lower() for c in contacts if c.email]
        phones = {_digits(c.phone) for c in contacts if c.phone}
        names = {_words(f"{c.first_name}{c.last_name}") for c in contacts} | {_words(c.company) for c in contacts}
        db.session.remove()
    names.discard("")
    customers = live.emu.store.list(DEMO_REALM, "Customer")
    address = {c["Id"]: (c.get("PrimaryEmailAddr") or {}).get("Address", "").lower() for c in customers}
    counts = {"exact": 0, "review": 0, "new": 0}
    for customer in customers:
        mail = address[customer["Id"]]
        holders = sum(1 for other in address.values() if other == mail)
        if mail and emails.count(mail) == 1 and holders == 1:
            counts["exact"] += 1
        elif (
            (mail and mail in emails)
            or _digits((customer.get("PrimaryPhone") or {}).get("FreeFormNumber")) in phones
            or {
                _words(f"{customer.get('GivenName')}{customer.get('FamilyName')}"),
                _words(customer.get("CompanyName")),
                _words(customer.get("DisplayName")),
            }
            & names
        ):
            counts["review"] += 1
        else:
            counts["new"] += 1
    return counts


def test_connected_page_links_the_exact_matches(page: t.Any, live: Live, shot: Shot) -> None:
    expected = expected_counts(live)
    assert expected["exact"] > 0 and expected["review"] > 0 and expected["new"] > 0, expected
    connect_quickbooks(page, live)
    assert page.url == live.url + "/qbo/admin/connected"
    tally = page.locator("[data-qbo-tally]")
    expect(tally).to_be_visible(timeout=60_000)
    shown = {kind: int(page.locator(f"[data-qbo-count={kind}]").inner_text()) for kind in expected}
    assert shown == expected
    expect(tally).to_contain_text(f"{expected['exact']} contacts match a QuickBooks customer exactly")
    expect(tally).to_contain_text(f"{expected['review']} need review, {expected['new']} customers are new")
    expect(page.get_by_role("link", name="Review the matches")).to_be_visible()
    # Back to where Connect was pressed: the CRM's own Add-ons page, with its API panel.
    back = page.locator(".qbo-connected").get_by_role("link", name="Add-ons & API", exact=True)
    expect(back).to_have_attribute("href", "/admin/addons")

    page.get_by_role("button", name="Link exact matches").click()
    expect(page.get_by_text(f"Linked {expected['exact']} contacts")).to_be_visible(timeout=30_000)
    expect(page.locator("[data-qbo-count=linked]")).to_have_text(str(expected["exact"]))
    expect(page.get_by_role("button", name="Link exact matches")).to_have_count(0)
    expect(page.locator("[data-qbo-linked]")).to_contain_text("Open a linked contact")
    shot(page, "connected-linked")

    page.goto(live.url + "/contacts/")
    page.fill("input[name=q]", CONTACT_EMAIL)
    page.press("input[name=q]", "Enter")
    page.locator("[data-testid=contacts-table] tbody a").first.click()
    expect(page.locator(".qbo-icon[data-qbo-state=linked] a.qbo-icon-link")).to_be_visible(timeout=10_000)
    expect(page.locator(".qbo-summary")).to_be_visible()
    expect(page.locator(".qbo-summary")).not_to_contain_text("Waiting to sync")
    expect(page.locator(".qbo-row").first).to_be_visible(timeout=10_000)


@pytest.mark.usefixtures("connected")
def test_fetched_import_reads_finished_and_its_bar_spans_the_card(page: t.Any, live: Live) -> None:
    sign_in(page, live, "admin@acme.test")
    page.goto(live.url + "/qbo/import/")
    card = page.locator("#qbo-import-progress")
    expect(card).to_have_attribute("data-qbo-import-status", "review", timeout=60_000)
    page.reload()
    heading = page.locator("#qbo-import-run")
    expect(heading).to_contain_text("finished")
    expect(heading).not_to_contain_text("in progress")
    bar = page.locator("#qbo-import-progress progress")
    expect(bar).to_have_attribute("value", "100")
    box = bar.bounding_box()
    inner = card.evaluate("el => el.clientWidth")
    assert box is not None and box["width"] > 300, box
    assert box["width"] >= inner - 1, f"the bar is {box['width']}px wide in a {inner}px card"
