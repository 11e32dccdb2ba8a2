"""Issue 18 review fixes in the browser: the import review's e-mail addresses wrap only after "@" or ".".

Starts from a freshly connected demo (the ``connected`` fixture), whose first
sync has fetched the customers; the review page is read at narrow widths so
long addresses must wrap.
"""

from __future__ import annotations

import typing as t

import pytest
from playwright.sync_api import expect

from .conftest import Live
from .conftest import sign_in
from .test_i18small import LINE_BREAKS

pytestmark = pytest.mark.browser


@pytest.mark.usefixtures("connected")
def test_review_rows_wrap_emails_only_after_at_or_dot(page: t.Any, live: Live) -> None:
    sign_in(page, live, "admin@acme.test")
    page.goto(live.url + "/admin/addons")
    page.get_by_role("link", name="Import customers and transactions").first.click()
    review = page.get_by_role("link", name="Review the matches")
    expect(review).to_be_visible(timeout=60_000)
    review.click()
    emails = page.locator(".qbo-import-rows th[scope=row] small")
    expect(emails.first).to_be_visible()
    wrapped: dict[str, list[str]] = {}
    for width in (900, 700, 560):
        page.set_viewport_size({"width": width, "height": 800})
        for index in range(emails.count()):
            email = emails.nth(index)
            breaks = email.evaluate(LINE_BREAKS)
            if breaks:
                wrapped[f"{width}: {email.inner_text()}"] = breaks
    assert wrapped, "no address wrapped at any width: the test would prove nothing"
    bad = {email: breaks for email, breaks in wrapped.items() if not set(breaks) <= {"@", "."}}
    assert not bad, bad
