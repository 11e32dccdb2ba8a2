"""Reading request bodies as JSON, refusing ones too deep to handle.

A body nested thousands of levels deep makes ``json.loads`` raise
``RecursionError``; one a few hundred levels deep parses, then breaks the store's
``copy.deepcopy``.  Real QBO answers both with a 400, so the emulator refuses
them here, before anything recursive touches them.  The emulator imports nothing
from the extension it is tested against, so it keeps this rule of its own.
"""

from __future__ import annotations

import json
import typing as t

#: QBO entities and notifications nest about eight levels; 64 is far from both
#: that and Python's recursion limit.
MAX_DEPTH = 64


class BodyError(ValueError):
    """The body is not JSON, or nests deeper than :data:`MAX_DEPTH`."""


def _too_deep(value: object) -> bool:
    """Whether ``value`` nests lists/objects deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    level_of = [(value, 1)]
    while level_of:
        item, level = level_of.pop()
        if isinstance(item, (dict, list)):
            if level > MAX_DEPTH:
                return True
            members = item.values() if isinstance(item, dict) else item
            level_of.extend((member, level + 1) for member in members)
    return False


def read_json(raw: bytes | str) -> t.Any:
    """The parsed body; :class:`BodyError` with a message fit for a 400 answer otherwise."""
    try:
        value = json.loads(raw)
    except RecursionError:
        value = None
        deep = True
    except ValueError as exc:
        raise BodyError(f"the body is not JSON: {exc}") from None
    else:
        deep = _too_deep(value)
    if deep:
        raise BodyError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
    return value
