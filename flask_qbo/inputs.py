"""Canonical forms of identifiers that reach us from outside.

Realm ids arrive in OAuth callbacks, webhook bodies, CLI arguments and URLs.
Python's ``str.isdigit`` accepts fullwidth, Arabic-Indic and superscript
digits, so two spellings of "the same" realm could slip past a uniqueness
check or a lookup.  Everything that takes a realm id from outside goes through
:func:`realm_id`, which accepts only the form Intuit uses: ASCII digits.
"""

from __future__ import annotations

import re

#: Intuit's realm ids are ASCII decimal digits; today's are 9 to 19 long.  The bound
#: leaves room for growth while refusing anything that could not be a company id.
_REALM_ID = re.compile(r"[0-9]{1,32}")


def is_realm_id(value: object) -> bool:
    """Whether ``value`` is a realm id in Intuit's form (1 to 32 ASCII digits)."""
    return isinstance(value, str) and _REALM_ID.fullmatch(value) is not None


def realm_id(value: object) -> str:
    """Return ``value`` when it is a realm id in Intuit's form, else raise :class:`ValueError`.

    The message names the value (shortened) so an admin or a log reader can see what
    arrived; realm ids are not secret.
    """
    if is_realm_id(value):
        return str(value)
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    raise ValueError(f"{shown} is not a QuickBooks company (realm) id: expected 1 to 32 digits 0-9.")
