"""Money, date and status formatting used by the widget templates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from markupsafe import Markup

from flask_qbo.models import Transaction
from flask_qbo.widgets.data import display_status
from flask_qbo.widgets.formatting import breakable
from flask_qbo.widgets.formatting import format_date
from flask_qbo.widgets.formatting import format_datetime
from flask_qbo.widgets.formatting import format_money
from flask_qbo.widgets.formatting import status_label
from flask_qbo.widgets.formatting import without_code_prefix


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("1234.5"), "USD", "$1,234.50"),
        (Decimal("-20"), "USD", "-$20.00"),
        ("0.005", "EUR", "€0.01"),
        (1000000, "GBP", "£1,000,000.00"),
        (Decimal("5"), "CAD", "CA$5.00"),
        (Decimal("5"), "aud", "A$5.00"),
        (Decimal("1500"), "JPY", "1,500.00 JPY"),
        (Decimal("-3"), "CHF", "-3.00 CHF"),
        (Decimal("7"), None, "7.00"),
        (None, "USD", "—"),
        ("not money", "USD", "—"),
    ],
)
def test_format_money(amount: object, currency: str | None, text: str) -> None:
    assert format_money(amount, currency) == text


def test_format_dates_are_locale_neutral() -> None:
    assert format_date(dt.date(2026, 3, 5)) == "Mar 5, 2026"
    assert format_date(dt.date(2025, 12, 31)) == "Dec 31, 2025"
    assert format_date(None) == "—"
    when = dt.datetime(2026, 3, 5, 21, 3, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert format_datetime(when) == "Mar 6, 2026 02:03 UTC"
    assert format_datetime(None) == "—"


def test_status_labels() -> None:
    assert status_label("partially_paid") == "Partially paid"
    assert status_label("unknown_state") == "Unknown state"
    assert status_label(None) == "—"


def test_open_invoice_becomes_overdue_after_due_date() -> None:
    today = dt.date(2026, 3, 10)
    txn = Transaction(txn_type="Invoice", status="open", balance=Decimal("5"), due_date=dt.date(2026, 3, 9))
    assert display_status(txn, today) == "overdue"
    assert display_status(txn, dt.date(2026, 3, 9)) == "open"
    txn.balance = Decimal("0")
    assert display_status(txn, today) == "open"
    estimate = Transaction(txn_type="Estimate", status="pending", balance=Decimal("5"), due_date=dt.date(2026, 1, 1))
    assert display_status(estimate, today) == "pending"


def test_app_locale_formats_money_and_dates_with_babel(app) -> None:
    app.config["QBO_LOCALE"] = "fr_FR"
    with app.app_context():
        money = format_money(Decimal("1234.5"), "EUR")
        assert money.replace("\u202f", " ").replace("\xa0", " ") == "1 234,50 €"
        assert format_money(Decimal("-7"), "usd").startswith("-7,00")
        assert format_date(dt.date(2026, 3, 5)) == "5 mars 2026"
        app.config["QBO_LOCALE"] = "de_DE"
        assert format_money(Decimal("1234.5"), "EUR").replace("\xa0", " ") == "1.234,50 €"
        app.config["QBO_LOCALE"] = "xx_NOPE"  # an unknown locale falls back to the neutral format
        assert format_money(Decimal("1234.5"), "EUR") == "€1,234.50"
        assert format_date(dt.date(2026, 3, 5)) == "Mar 5, 2026"


def test_without_a_locale_formatting_stays_neutral(app) -> None:
    with app.app_context():
        assert format_money(Decimal("1234.5"), "EUR") == "€1,234.50"
        assert format_date(dt.date(2026, 3, 5)) == "Mar 5, 2026"


def test_only_a_repeat_of_the_own_code_is_stripped() -> None:
    assert without_code_prefix("6000", "[6000] Business validation") == "Business validation"
    assert without_code_prefix("6240", "[6000] Business validation") == "[6000] Business validation"
    assert without_code_prefix(None, "[6000] Business validation") == "[6000] Business validation"
    assert without_code_prefix("6000", "Quota [6000] later") == "Quota [6000] later"
    assert without_code_prefix("6000", None) == ""


def test_breakable_wraps_an_address_only_after_at_and_dots() -> None:
    html = breakable("ann.lee@mail.example.com")
    assert isinstance(html, Markup)
    assert html == "ann.<wbr>lee@<wbr>mail.<wbr>example.<wbr>com"
    assert breakable("no-dots") == "no-dots" and breakable(None) == "" and breakable("end.") == "end."


def test_breakable_escapes_before_adding_its_own_tags() -> None:
    html = breakable('<script>alert("x.y")</script>@evil.test')
    assert "<script>" not in html
    assert html == "&lt;script&gt;alert(&#34;x.<wbr>y&#34;)&lt;/script&gt;@<wbr>evil.<wbr>test"
