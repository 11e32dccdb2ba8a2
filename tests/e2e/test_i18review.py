"""The import review at the keyboard alone: Tab to a row, the arrow keys to choose, Enter to save, then apply.

An office manager reviews the demo's matches without touching the mouse:
the ambiguous parent customer is linked to its one candidate, its job is
skipped, an unmatched customer is linked to a contact found by name, the dry
run names fields in words, and Apply carries the decisions out.  Every control
reached shows a visible focus ring.  The screenshot ``import-review-decision``
(a row's search open) is saved for docs/import.rst.
"""

from __future__ import annotations

import re
import typing as t

from playwright.sync_api import expect

from .conftest import AMBIGUOUS_EMAIL
from .conftest import Live
from .conftest import Shot
from .conftest import sign_in

#: An unmatched customer of the demo company, and the Acme contact the admin knows is the same.
UNMATCHED = "Zoe Pemberton"
KNOWN_AS = "Hazel Quinn"
#: A focused control must show a ring: an outline (or box shadow) the default theme draws.
FOCUS_RING = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
}"""


def tab_to(page: t.Any, selector: str, limit: int = 300) -> None:
    """Press Tab until the focused element matches ``selector`` (or sits inside it), checking each focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => !!document.activeElement.closest(s)", selector):
            assert page.evaluate(FOCUS_RING), page.evaluate("() => document.activeElement.outerHTML")
            return
    raise AssertionError(f"Tab never reached {selector}")


def tab_to_button(page: t.Any, name: str, limit: int = 300) -> None:
    """Press Tab until the focused element is the button named ``name``, checking its focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.tagName") == "BUTTON" and focused(page) == name:
            assert page.evaluate(FOCUS_RING)
            return
    raise AssertionError(f"Tab never reached the {name!r} button")


def focused(page: t.Any) -> str:
    """The focused control's accessible label (its <label>'s text, else its own text)."""
    return page.evaluate(
        "() => { const el = document.activeElement;"
        " return ((el.labels && el.labels[0]) ? el.labels[0].innerText : el.innerText).trim(); }"
    )


def row_of(page: t.Any, text: str, *, without: str | None = None) -> str:
    """The CSS selector of the review row showing ``text``."""
    rows = page.locator("tr[data-qbo-match]", has_text=text)
    if without:
        rows = rows.filter(has_not_text=without)
    return f'tr[data-qbo-match="{rows.first.get_attribute("data-qbo-match")}"]'


def test_import_review_by_keyboard_alone(page: t.Any, live: Live, connected: None, shot: Shot) -> None:
    sign_in(page, live, "admin@acme.test")
    page.goto(live.url + "/qbo/import/")  # connecting started the first sync: this page polls it to the end
    review = page.get_by_role("link", name="Review the matches")
    expect(review).to_be_visible(timeout=60_000)
    page.goto(live.url + (review.get_attribute("href") or ""))  # from here on: keyboard only
    page.locator("body").focus()

    tab_to_button(page, "Accept all exact matches")
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"Accepted [1-9]\d* exact e-mail matches"))).to_be_visible()

    # The ambiguous parent: Tab lands on its first option; Down then Up chooses it; Enter saves.
    parent = row_of(page, AMBIGUOUS_EMAIL, without="backyard")
    tab_to(page, parent)
    assert focused(page).startswith("Link to ")
    candidate = focused(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.checked")
    page.keyboard.press("Enter")
    expect(page.locator(parent)).to_have_attribute("data-qbo-decision", "link")
    expect(page.locator(parent).locator("[data-qbo-status]")).to_have_text(f"Saved: {candidate}")
    assert page.url.endswith("#qbo-row-" + page.locator(parent).get_attribute("id").split("-")[-1])

    # Its job: Up from the first option wraps to the last, Skip.
    job = row_of(page, "backyard")
    tab_to(page, job)
    page.keyboard.press("ArrowUp")
    assert focused(page) == "Skip (leave it unlinked)"
    page.keyboard.press("Enter")
    expect(page.locator(job)).to_have_attribute("data-qbo-decision", "skip")

    # An unmatched customer: choose "Link to a contact…", Tab into the search, type a name, Enter.
    unmatched = row_of(page, UNMATCHED)
    tab_to(page, unmatched)
    assert focused(page) == "Link to a contact…"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Tab")
    assert focused(page) == "Find a contact by name or email" and page.evaluate(FOCUS_RING)
    page.keyboard.type(KNOWN_AS)
    found = page.locator(unmatched).get_by_label("Matching contacts")
    expect(found).to_be_visible()
    expect(found.locator("option:checked")).to_contain_text(KNOWN_AS)
    shot(page, "import-review-decision")
    page.keyboard.press("Enter")
    expect(page.locator(unmatched)).to_have_attribute("data-qbo-decision", "link")
    expect(page.locator(unmatched).locator("[data-qbo-status]")).to_have_text(f"Saved: Link to {KNOWN_AS}")

    # The dry run names fields as people do.
    tab_to(page, 'a[href*="preview=1"]')
    page.keyboard.press("Enter")
    change = page.locator("[data-qbo-preview-id]", has_text=UNMATCHED)
    expect(change).to_contain_text("Contact · First name: Hazel → Zoe")
    for item in page.locator("[data-qbo-preview] li").all_inner_texts():
        side, _, label = item.split(":")[0].partition(" · ")
        assert side in ("Contact", "QuickBooks") and not re.search(r"_|[a-z][A-Z]|\.", label), item

    tab_to_button(page, "Apply decisions")
    page.keyboard.press("Enter")
    expect(page.get_by_text(re.compile(r"[1-9]\d* customers linked or created")).first).to_be_visible(timeout=30_000)
