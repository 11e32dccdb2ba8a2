"""How widgets and the admin pages write money, dates, statuses and stored error messages.

Money follows the customer's currency.  Without Babel (or without a locale)
amounts and dates use one neutral format (``$1,234.50``, ``Mar 5, 2026``) so
every server renders the same; with Babel installed and a locale known
(``QBO_LOCALE``, else Flask-Babel's current locale) they follow that locale's
conventions, e.g. ``1.234,50 €`` and ``5 mars 2026`` for ``fr_FR``.

Times are stored in UTC but shown in the app's timezone (``QBO_TIMEZONE``, else
Flask-Babel's, else UTC), with the zone's abbreviation so a reader never has to
guess: ``Mar 5, 2026 15:03 CET``.  A datetime's date is taken in that zone too,
so an event at 23:30 UTC is dated the next day in Berlin.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation
from types import ModuleType

from flask import current_app
from flask import has_app_context
from markupsafe import Markup
from markupsafe import escape

from ..config import configured_timezone

#: Status badge labels, in the words QBO's own transaction lists use (the badge's
#: status comes from :func:`flask_qbo.widgets.data.display_status`); anything else
#: is shown capitalised.
STATUS_LABELS: dict[str, str] = {
    "open": "Open",
    "overdue": "Overdue",
    "partially_paid": "Partially paid",
    "paid": "Paid",
    "void": "Voided",
    "pending": "Pending",
    "accepted": "Accepted",
    "closed": "Closed",
    "rejected": "Rejected",
    "unapplied": "Unapplied",
}

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "CAD": "CA$", "AUD": "A$"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def current_locale() -> str | None:
    """The locale widgets format for: ``QBO_LOCALE``, else Flask-Babel's, else ``None`` (neutral)."""
    if not has_app_context():
        return None
    configured = current_app.config.get("QBO_LOCALE")
    if configured:
        return str(configured)
    if "babel" in current_app.extensions:
        try:
            from flask_babel import get_locale
        except ImportError:
            return None
        locale = get_locale()
        return str(locale) if locale else None
    return None


def current_timezone() -> dt.tzinfo:
    """The zone times are shown in: ``QBO_TIMEZONE``, else Flask-Babel's timezone, else UTC."""
    if not has_app_context():
        return dt.timezone.utc
    configured = configured_timezone()
    if configured is not None:
        return configured
    if "babel" in current_app.extensions:
        try:
            from flask_babel import get_timezone
        except ImportError:
            return dt.timezone.utc
        zone = get_timezone()
        return zone if isinstance(zone, dt.tzinfo) else dt.timezone.utc
    return dt.timezone.utc


def local_time(value: dt.datetime) -> dt.datetime:
    """A stored time in the app's timezone (a naive value is UTC, as every stored time is)."""
    aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return aware.astimezone(current_timezone())


def _babel() -> tuple[ModuleType, ModuleType, type[Exception]] | None:
    """Babel's formatting modules, or ``None`` when Babel is not installed."""
    try:
        from babel import UnknownLocaleError
        from babel import dates
        from babel import numbers
    except ImportError:
        return None
    return numbers, dates, UnknownLocaleError


def format_money(amount: object, currency: str | None = None) -> str:
    """An amount in its currency, ``—`` for none.

    Neutral: ``$1,234.50`` for the common currencies, ``1,234.50 JPY`` for
    others.  With a locale and Babel: that locale's way, e.g. ``1.234,50 €``.
    """
    if amount is None or amount == "":
        return "—"
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return "—"
    locale, babel = current_locale(), _babel()
    if locale and babel:
        numbers = babel[0]
        try:
            if currency:
                return str(numbers.format_currency(value, currency.upper(), locale=locale))
            return str(numbers.format_decimal(value, format="#,##0.00", locale=locale))
        except (ValueError, LookupError, babel[2]):
            pass  # an unknown locale falls back to the neutral format
    sign = "-" if value < 0 else ""
    digits = f"{abs(value):,.2f}"
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"{sign}{symbol}{digits}"
    if code:
        return f"{sign}{digits} {code}"
    return f"{sign}{digits}"


def format_date(value: dt.date | dt.datetime | None) -> str:
    """``Mar 5, 2026`` (neutral), or the locale's medium date with Babel (``5 mars 2026``)."""
    if value is None:
        return "—"
    if isinstance(value, dt.datetime):
        value = local_time(value)
    locale, babel = current_locale(), _babel()
    if locale and babel:
        day = value.date() if isinstance(value, dt.datetime) else value
        try:
            return str(babel[1].format_date(day, format="medium", locale=locale))
        except (ValueError, LookupError, babel[2]):
            pass  # an unknown locale falls back to the neutral format
    return f"{_MONTHS[value.month - 1]} {value.day}, {value.year}"


def format_datetime(value: dt.datetime | None) -> str:
    """``Mar 5, 2026 15:03 CET``: the date as :func:`format_date`, the time and zone in the app's timezone."""
    if value is None:
        return "—"
    local = local_time(value)
    return f"{format_date(local)} {local:%H:%M} {local.tzname() or 'UTC'}"


def status_label(status: str | None) -> str:
    """Human label of a status badge."""
    if not status:
        return "—"
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


def without_code_prefix(code: str | None, message: str | None) -> str:
    """Intuit's message without a leading ``"[<code>] "`` that repeats the code.

    Push stores ``str(QBOAPIError)``, which starts with ``[code]``; the pages
    already show the code in its own badge, so repeating it reads as noise
    ("6000 [6000] A business validation error...").  Only an exact repeat of
    the row's own code is removed; any other bracketed text is Intuit's.
    """
    text = message or ""
    if code:
        prefix = f"[{code}] "
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


#: Where an e-mail address or URL may wrap: after its "@" and after each ".", "/" stays whole.
_BREAK_AFTER = re.compile(r"([@.])(?=.)")


def breakable(value: object) -> Markup:
    """``value`` escaped, with ``<wbr>`` after each ``@`` and ``.``: a long address wraps there, never mid-word.

    Escaping comes first, so a name holding markup stays text; only the ``<wbr>``
    tags this adds are HTML.  ``None`` is the empty string.
    """
    text = "" if value is None else str(value)
    return Markup(_BREAK_AFTER.sub(r"\1<wbr>", str(escape(text))))


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``"1 contact"``, ``"2 contacts"``: a count with its noun (``many`` when adding "s" is wrong)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
