"""What a company (realm) id looks like, checked wherever one enters the emulator.

Intuit's realm ids are ASCII decimal digits.  ``str.isdigit`` also accepts
fullwidth, Arabic-Indic and superscript digits, so a check built on it would
let a second spelling of a company id reach the store, the request counters
and the fault rules.  The emulator stands in for Intuit and imports nothing
from the extension it is tested against, so it keeps this small rule of its own.
"""

from __future__ import annotations

import re

#: Today's realm ids are 9 to 19 digits; the bound leaves room for growth while
#: refusing anything that could not be a company id.
_REALM_ID = re.compile(r"[0-9]{1,32}")


def is_realm_id(value: object) -> bool:
    """Whether ``value`` is a company id in Intuit's form (1 to 32 ASCII digits)."""
    return isinstance(value, str) and _REALM_ID.fullmatch(value) is not None


def not_a_realm(value: object) -> str:
    """The message for a value that is not a company id (shortened: it came from outside)."""
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{shown} is not a company id: expected 1 to 32 digits 0-9"
