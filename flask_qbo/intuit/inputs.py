"""Canonical forms of identifiers, and safe reading of JSON, that reach us from outside.

Realm ids arrive in OAuth callbacks, webhook bodies, CLI arguments and URLs.
Python's ``str.isdigit`` accepts fullwidth, Arabic-Indic and superscript
digits, so two spellings of "the same" realm could slip past a uniqueness
check or a lookup.  Everything that takes a realm id from outside goes through
:func:`realm_id`, which accepts only the form Intuit uses: ASCII digits.

JSON request bodies (webhooks) and QBO answers go through
:func:`load_json`: Python's parser recurses once per nesting level, so a body
nested 100,000 deep raises ``RecursionError`` instead of ``ValueError``, and a
body just shallow enough to parse still breaks later recursive code
(``copy.deepcopy``, ``json.dumps``) at a deeper point of the stack.

The same holds for the other numbers and keys a request carries: page numbers
and form numbers go through :func:`whole_number` (ASCII digits within a range,
so ``?page=10**22`` is a clear 400 rather than an ``OverflowError``), and
contact keys through :func:`contact_key` (one spelling per contact).
"""

from __future__ import annotations

import json
import re
import typing as t
import unicodedata

from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from werkzeug.routing import Map

#: Intuit's realm ids and object ids are ASCII decimal digits; today's realms are 9 to
#: 19 long.  The bound leaves room for growth while refusing anything that could not be an id.
_INTUIT_ID = re.compile(r"[0-9]{1,32}")
#: Unicode categories never allowed in an id or key from outside: controls (NUL breaks
#: PostgreSQL), format characters (bidi overrides, zero-width joiners: two values that look
#: the same) and surrogates (no database encoding can store a lone one).
_HIDDEN = frozenset({"Cc", "Cf", "Cs"})


def is_realm_id(value: object) -> bool:
    """Whether ``value`` is a realm id in Intuit's form (1 to 32 ASCII digits)."""
    return isinstance(value, str) and _INTUIT_ID.fullmatch(value) is not None


def is_qbo_id(value: object) -> bool:
    """Whether ``value`` is a QBO object id (a customer's, an invoice's...): 1 to 32 ASCII digits."""
    return is_realm_id(value)


def has_hidden_characters(text: str) -> bool:
    """Whether ``text`` holds a control, format or surrogate character (see :data:`_HIDDEN`)."""
    return any(unicodedata.category(ch) in _HIDDEN for ch in text)


def realm_id(value: object) -> str:
    """Return ``value`` when it is a realm id in Intuit's form, else raise :class:`ValueError`.

    The message names the value (shortened) so an admin or a log reader can see what
    arrived; realm ids are not secret.
    """
    if is_realm_id(value):
        return str(value)
    raise ValueError(f"{_shown(value)} is not a QuickBooks company (realm) id: expected 1 to 32 digits 0-9.")


#: Deepest JSON accepted from outside.  Intuit's notifications and entities nest at most
#: about eight levels; the bound keeps every later recursive walk of a parsed body far
#: from Python's recursion limit (1,000 frames), wherever on the stack it runs.
MAX_JSON_DEPTH = 64


class JSONInputError(ValueError):
    """A request body that is not JSON, or is JSON nested too deeply to handle safely."""


def json_depth(value: object, limit: int) -> int:
    """How deeply ``value`` nests lists and objects, counting no further than ``limit + 1``.

    Iterative on purpose: the point is to measure bodies too deep for recursion.
    """
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children: t.Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def load_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> t.Any:
    """Parse a JSON request body; any problem is a :class:`JSONInputError` with a clear message.

    A body that is JSON but nests deeper than ``max_depth`` is refused whether
    or not Python's parser could read it, so the answer does not depend on how
    deep the caller's stack happens to be.
    """
    too_deep = f"the JSON is nested more than {max_depth} levels deep"
    try:
        value = json.loads(data)
    except RecursionError:
        raise JSONInputError(too_deep) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JSONInputError(f"the body is not JSON: {exc}") from None
    if json_depth(value, max_depth) > max_depth:
        raise JSONInputError(too_deep)
    return value


# -- whole numbers from query strings and forms ----------------------------------------

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


def _shown(value: object) -> str:
    """``value`` for an error message: its repr, shortened so a huge input stays readable."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def whole_number(value: object, *, name: str, minimum: int = 0, maximum: int = INT64_MAX) -> int:
    """Parse a whole number written with ASCII digits, from ``minimum`` to ``maximum``.

    For every integer that arrives in a request (page numbers, form fields):
    anything else raises :class:`ValueError` with a message naming the
    parameter and its range, which views answer with a 400.
    """
    if isinstance(value, str) and _WHOLE.fullmatch(value) and minimum <= int(value) <= maximum:
        return int(value)
    raise ValueError(
        f"{name} must be a whole number from {minimum} to {maximum}, written with the digits 0-9; got {_shown(value)}."
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
            f"{_shown(value)} is not a contact key: contact keys are whole numbers written with "
            "the digits 0-9, without a plus sign, spaces or leading zeros (for example 42)."
        )
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_LENGTH and not has_hidden_characters(value):
        return value
    raise ValueError(
        f"{_shown(value)} is not a contact key: a key is 1 to {MAX_KEY_LENGTH} characters "
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
