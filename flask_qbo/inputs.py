"""Canonical forms of identifiers, and safe reading of JSON, that reach us from outside.

Realm ids arrive in OAuth callbacks, webhook bodies, CLI arguments and URLs.
Python's ``str.isdigit`` accepts fullwidth, Arabic-Indic and superscript
digits, so two spellings of "the same" realm could slip past a uniqueness
check or a lookup.  Everything that takes a realm id from outside goes through
:func:`realm_id`, which accepts only the form Intuit uses: ASCII digits.

JSON request bodies (webhooks, the emulator's API) go through
:func:`load_json`: Python's parser recurses once per nesting level, so a body
nested 100,000 deep raises ``RecursionError`` instead of ``ValueError``, and a
body just shallow enough to parse still breaks later recursive code
(``copy.deepcopy``, ``json.dumps``) at a deeper point of the stack.
"""

from __future__ import annotations

import json
import re
import typing as t

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
