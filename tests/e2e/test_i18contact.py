"""Issue 18 in the browser: the delete confirmation warns of money owed, and a rename reaches QuickBooks.

Each test starts from a freshly imported demo (the ``imported`` fixture), so it
passes alone; screenshots go where the ``shot`` fixture says.
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
from .conftest import sign_in
from .test_demo_browser import emulator_customer_url
from .test_demo_browser import open_contact

pytestmark = pytest.mark.browser


def _contact_id(live: Live, first: str, last: str) -> int:
    """The demo CRM's contact of that name (one in the seed)."""
    from demo_app.models import Contact
    from demo_app.models import db

    with live.app.app_context():
        contact_id = db.session.query(Contact.id).filter_by(first_name=first, last_name=last).scalar()
        db.session.remove()
    assert contact_id is not None, f"the demo seed has no {first} {last}"
    return int(contact_id)


def _owing(live: Live, given: str, family: str) -> tuple[str, str, str]:
    """(open balance, overdue, unapplied credit) of a seeded customer, as the card writes dollars."""
    store = live.emu.store
    (customer,) = [
        c for c in store.list(DEMO_REALM, "Customer") if (c.get("GivenName"), c.get("FamilyName")) == (given, family)
    ]
    today = str(live.emu.clock.today())
    mine = [i for i in store.list(DEMO_REALM, "Invoice") if i["CustomerRef"]["value"] == customer["Id"]]
    overdue = sum(Decimal(str(i["Balance"])) for i in mine if i.get("DueDate", today) < today)
    credits = [m for m in store.list(DEMO_REALM, "CreditMemo") if m["CustomerRef"]["value"] == customer["Id"]]
    credit = sum(Decimal(str(m.get("RemainingCredit", m.get("Balance", 0)))) for m in credits)
    return tuple(f"${Decimal(str(v)):,.2f}" for v in (customer["Balance"], overdue, credit))  # type: ignore[return-value]


def _card_figure(page: t.Any, label: str) -> str:
    return str(page.locator(".qbo-summary .qbo-field").filter(has_text=label).locator("dd").inner_text()).strip()


@pytest.mark.usefixtures("imported")
def test_delete_confirmation_warns_of_the_balance(page: t.Any, live: Live, shot: Shot) -> None:
    # The demo company's Dmitri Castellano: an overdue invoice and an unapplied credit memo, so
    # QuickBooks' open balance is the invoice less the credit (figures read from the emulator's seed).
    owed, overdue_due, credit = _owing(live, "Dmitri", "Castellano")
    contact_id = _contact_id(live, "Dmitri", "Castellano")
    sign_in(page, live, "user@acme.test")
    page.goto(f"{live.url}/contacts/{contact_id}")
    expect(page.locator(".qbo-summary")).to_contain_text("Open balance", timeout=15_000)
    balance, overdue = _card_figure(page, "Open balance"), _card_figure(page, "Overdue balance")
    assert (balance, overdue) == (owed, overdue_due)  # the card's figures, which the warning must repeat

    page.get_by_role("link", name="Delete", exact=True).click()
    page.wait_for_url(f"{live.url}/contacts/{contact_id}/delete")
    warning = page.locator("[data-qbo-delete-warning]")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(
        f"Dmitri Castellano owes {balance} ({overdue} overdue, less {credit} unapplied credit)."
    )
    expect(page.get_by_role("button", name="Delete contact")).to_be_visible()
    shot(page, "delete-warning")

    page.get_by_role("link", name="Cancel").click()  # nothing deleted
    page.wait_for_url(f"{live.url}/contacts/{contact_id}")


@pytest.mark.usefixtures("imported")
def test_rename_follows_to_quickbooks_and_a_different_name_there_shows(
    page: t.Any, context: t.Any, live: Live, shot: Shot
) -> None:
    sign_in(page, live, "user@acme.test")
    open_contact(page, live, CONTACT_EMAIL)
    customer_url = emulator_customer_url(page, live)
    new_last = f"Renamed{int(time.time()) % 100000}"

    page.get_by_role("link", name="Edit", exact=True).click()
    first = page.input_value("#first_name")
    page.fill("#last_name", new_last)
    page.get_by_role("button", name="Save contact").click()
    new_name = f"{first} {new_last}"
    expect(page.locator("[data-testid=contact-name]")).to_contain_text(new_name)

    qbo = context.new_page()
    deadline = time.monotonic() + 15
    while True:
        qbo.goto(customer_url)
        if qbo.locator("[data-testid=field-DisplayName]").inner_text() == new_name:
            break
        assert time.monotonic() < deadline, "QuickBooks kept the old DisplayName"
        time.sleep(0.2)

    page.bring_to_front()
    card = page.locator(".qbo-summary .qbo-customer-name")
    expect(card).to_contain_text(new_name, timeout=15_000)
    expect(page.locator(".qbo-summary [data-qbo-name-differs]")).to_have_count(0)

    # The bookkeeper names the customer their own way in QuickBooks: the card says so.
    qbo.bring_to_front()
    qbo.fill("#DisplayName", f"{new_name} <Wholesale>")
    qbo.get_by_test_id("save-customer").click()
    expect(qbo.locator("[data-testid=field-DisplayName]")).to_have_text(f"{new_name} <Wholesale>")

    page.bring_to_front()
    expect(card).to_contain_text(f"In QuickBooks: {new_name} <Wholesale>", timeout=15_000)
    expect(page.locator("[data-testid=contact-name]")).to_contain_text(new_name)
    shot(page, "card-quickbooks-name")


def test_a_long_name_keeps_the_header_inside_the_page(page: t.Any, live: Live, shot: Shot) -> None:
    sign_in(page, live, "user@acme.test")
    page.goto(live.url + "/contacts/new")
    expect(page.locator("#first_name-limit")).to_have_text("Up to 100 characters (QuickBooks' limit).")
    first, last = "Maximiliana" * 9, "Wolfeschlegelsteinhausen" * 4  # 99 and 96 characters, no spaces
    page.fill("#first_name", first)
    page.fill("#last_name", last)
    page.get_by_role("button", name="Save contact").click()
    header = page.locator(".contact-header")
    name = page.locator("[data-testid=contact-name] .contact-name")
    expect(name).to_have_attribute("title", f"{first} {last}")
    viewport = page.viewport_size["width"]
    box = header.bounding_box()
    assert box is not None and box["x"] + box["width"] <= viewport
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport  # no sideways scroll
    assert name.evaluate("el => el.scrollWidth > el.clientWidth")  # cut with an ellipsis, not overflowing
    expect(page.get_by_role("link", name="Delete", exact=True)).to_be_in_viewport()
    shot(page, "long-name-header")


def test_a_name_over_the_limit_is_warned_refused_and_kept_never_cut(page: t.Any, live: Live) -> None:
    """121 characters stay 121: a live warning while typing, the server's message after saving."""
    sign_in(page, live, "user@acme.test")
    page.goto(live.url + "/contacts/new")
    first = page.locator("#first_name")
    expect(first).not_to_have_attribute("maxlength", re.compile(".*"))
    over = page.locator("#first_name-over")
    expect(over).to_have_attribute("aria-live", "polite")
    expect(over).to_have_text("")
    long_name = "Bartholomew" * 11  # 121 characters
    first.press_sequentially(long_name)
    assert len(first.input_value()) == 121  # typed in full, not cut by the browser
    expect(over).to_have_text("121 characters: 21 over QuickBooks' limit of 100.")
    page.fill("#last_name", "Longname")
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".field-error")).to_have_text("QuickBooks allows at most 100 characters here; this has 121.")
    expect(first).to_have_value(long_name)
    expect(over).to_have_text("121 characters: 21 over QuickBooks' limit of 100.")
