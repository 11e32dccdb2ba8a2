"""Intuit's identifiers as they reach us from outside: realm ids and object ids.

Realm ids arrive in OAuth callbacks, webhook bodies, CLI arguments and URLs,
and object ids in webhook bodies and deep links.  Python's ``str.isdigit``
accepts fullwidth, Arabic-Indic and superscript digits, so two spellings of
"the same" realm could slip past a uniqueness check or a lookup.  Everything
that takes a realm id from outside goes through :func:`realm_id`, which
accepts only the form Intuit uses: ASCII digits.  :func:`has_hidden_characters`
is the shared test for text that must not be stored or shown as an id or key.
"""

from __future__ import annotations

import re
import unicodedata

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
    raise ValueError(f"{shown(value)} is not a QuickBooks company (realm) id: expected 1 to 32 digits 0-9.")


def shown(value: object) -> str:
    """``value`` for an error message: its repr, shortened so a huge input stays readable."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
