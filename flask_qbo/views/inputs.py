"""Numbers and keys in HTTP requests: page numbers, form numbers, row ids in URLs, contact keys.

``int()`` reads ``"٣"``, ``"３"``, ``"+3"``, ``" 3"`` and ``"3_0"``, and has no upper
bound, so ``?page=10**22`` would reach SQLite as an ``OverflowError`` (a 500).
Every integer a request carries goes through :func:`whole_number` (ASCII digits
within a range, so a bad one is a clear 400), row ids in URLs through
:class:`RowIdConverter`, and contact keys through :func:`contact_key` (one
spelling per contact).  The extension's views, and a host's own (the demo CRM),
use them alike.
"""

from __future__ import annotations

import re
import typing as t

from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

from ..intuit.ids import has_hidden_characters
from ..intuit.ids import shown

#: The largest value a 64-bit signed integer column holds.  SQLite raises
#: ``OverflowError`` for a bigger Python int, so nothing larger reaches a query.
INT64_MAX = 2**63 - 1
#: The most pages any paged view offers; a larger number is a typo or an attack.
MAX_PAGE = 100_000
#: The largest row id of an ``Integer`` column (32-bit on PostgreSQL), such as the extension's own.
ROW_ID_MAX = 2**31 - 1
#: Name under which :class:`RowIdConverter` is registered on the app's URL map.
ROW_ID = "qbo_row_id"
#: ASCII digits only: ``int()`` also reads ``"٣"``, ``"３"``, ``"+3"``, ``" 3"`` and ``"3_0"``.
_WHOLE = re.compile(r"[0-9]{1,19}")


def whole_number(value: object, *, name: str, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """Parse a whole number written with ASCII digits, from ``minimum`` to ``maximum``.

    For every integer that arrives in a request (page numbers, form fields):
    anything else raises :class:`ValueError` with a message naming the
    parameter and its range, which views answer with a 400.
    """
    if isinstance(value, str) and _WHOLE.fullmatch(value) and minimum <= int(value) <= maximum:
        return int(value)
    raise ValueError(
        f"{name} must be a whole number from {minimum} to {maximum}, written with the digits 0-9; got {shown(value)}."
    )


def page_number(value: str | None, *, maximum: int = MAX_PAGE) -> int:
    """The ``page`` query parameter: absent or empty is page 1, else :func:`whole_number` from 1."""
    if value is None or value == "":
        return 1
    return whole_number(value, name="page", minimum=1, maximum=maximum)


def page_arg(args: t.Mapping[str, str]) -> int:
    """:func:`page_number` of a request's query string, for paged views.

    A bad value raises :class:`~werkzeug.exceptions.BadRequest`, so the view
    answers 400 with the message saying what a page number is.
    """
    try:
        return page_number(args.get("page"))
    except ValueError as exc:
        raise BadRequest(description=str(exc)) from None


# -- contact keys ----------------------------------------------------------------------

#: An integer key as ``str(int)`` writes it: no ``+``, no leading zeros, ``-`` only for a
#: negative id (so every key the extension stores loads back), at most 19 digits.
_INTEGER_KEY = re.compile(r"0|-?[1-9][0-9]{0,18}")
#: Longest key the extension's tables hold (``contact_key`` columns are ``String(64)``).
MAX_KEY_LENGTH = 64


def contact_key(value: object, *, integer: bool) -> str:
    """The one canonical spelling of a contact key, or :class:`ValueError` saying why there is none.

    Keys reach the extension from outside (a key typed in the import review,
    a widget URL, a host's call) and are compared as strings in the
    extension's tables, so ``"01"`` and ``"1"`` must not both pass for contact
    1: one would dodge a uniqueness check the other is subject to.

    :param integer: the host's key column is an integer column.  Its keys are
        written as ``str(int)`` does (ASCII digits, no sign but a minus, no
        leading zeros) and fit a 64-bit integer; an ``int`` is accepted too.
        Other keys are taken as they are (the host decides what a key is)
        when they are 1 to 64 characters without control or format characters.
    """
    if integer:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(text, str) and _INTEGER_KEY.fullmatch(text) and abs(int(text)) <= INT64_MAX:
            return text
        raise ValueError(
            f"{shown(value)} is not a contact key: contact keys are whole numbers written with "
            "the digits 0-9, without a plus sign, spaces or leading zeros (for example 42)."
        )
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH and not has_hidden_characters(value):
        return value
    raise ValueError(
        f"{shown(value)} is not a contact key: a key is 1 to {MAX_KEY_LENGTH} characters "
        "without control or formatting characters."
    )


class RowIdConverter(IntegerConverter):
    """``<qbo_row_id:name>``: a row id in a URL, ASCII digits from 0 to :data:`ROW_ID_MAX`.

    Werkzeug's ``int`` converter matches ``\\d+``, which in Python also matches
    Arabic-Indic and fullwidth digits (``/run/٣`` is run 3), and has no upper
    bound (``10**22`` reaches SQLite as an ``OverflowError``).  Any other path
    is simply not a match: a 404.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, url_map: Map) -> None:
        super().__init__(url_map, max=ROW_ID_MAX)
