"""Reading JSON from outside (webhook bodies, QBO answers) without trusting its depth.

Python's parser recurses once per nesting level, so a body nested 100,000 deep
raises ``RecursionError`` instead of ``ValueError``, and a body just shallow
enough to parse still breaks later recursive code (``copy.deepcopy``,
``json.dumps``) at a deeper point of the stack.  Every such body goes through
:func:`load_json`, which refuses both with one clear :class:`JSONInputError`.
"""

from __future__ import annotations

import json
import re
import typing as t

import orjson

#: Deepest JSON accepted from outside.  Intuit's notifications and entities nest at most
#: about eight levels; the bound keeps every later recursive walk of a parsed body far
#: from Python's recursion limit (1,000 frames), wherever on the stack it runs.
MAX_JSON_DEPTH = 64


#: An escape inside a string (``\\"``, ``\\\\``, ``\\u00e9``...): removed first, so every quote left delimits a string.
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
#: Every byte but quotes and brackets, for :meth:`bytes.translate` to delete.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
#: A string once only quotes and brackets are left: brackets inside one are text, not nesting.
_STRING = re.compile(rb'"[^"]*"')
#: An innermost pair: an empty object or array once everything else is gone.
_INNERMOST = re.compile(rb"\[\]|\{\}")


class JSONInputError(ValueError):
    """A request body that is not JSON, or is JSON nested too deeply to handle safely."""


def json_depth(value: object, limit: int) -> int:
    """How deeply ``value`` nests lists and objects, counting no further than ``limit + 1``.

    Iterative on purpose: the point is to measure bodies too deep for recursion.
    It walks one level at a time and keeps only the containers of each, so a
    page of a thousand entities (tens of thousands of scalars) costs little
    next to parsing it.
    """
    level = 0
    frontier: list[object] = [value]
    while level <= limit:
        containers = [item for item in frontier if isinstance(item, (dict, list))]
        if not containers:
            return level
        level += 1
        frontier = []
        for item in containers:
            frontier.extend(item.values() if isinstance(item, dict) else t.cast("list[object]", item))
    return level


def text_depth(text: bytes | str, limit: int) -> int:
    """How deeply a well-formed JSON text nests, counting no further than ``limit + 1``.

    The same answer as :func:`json_depth` on the parsed value, from the UTF-8
    text (a quote, bracket or backslash byte never occurs inside another
    character there): escapes are dropped, then every byte but quotes and
    brackets, then the strings (what is left of them: empty pairs first), and each further pass
    removes every innermost ``[]``/``{}`` pair, so the passes needed to empty
    it are the depth.  Each step runs in C over the page once; the first two
    shrink it to its brackets, so a page of a thousand entities costs less
    than parsing it (a walk of the parsed tree cost more than the parse).
    """
    data = text.encode() if isinstance(text, str) else text
    # Most strings hold no bracket: their quotes, left side by side, go with one C replace (a pair that
    # closes one string and opens the next merges the two, with nothing between them); the regex then
    # has only the few strings that hold brackets to remove.
    quoted = _ESCAPE.sub(b"", data).translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = _STRING.sub(b"", quoted) if b'"' in quoted else quoted
    level = 0
    while brackets and level <= limit:
        brackets = _INNERMOST.sub(b"", brackets)
        level += 1
    return level


def load_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> t.Any:
    """Parse a JSON request body; any problem is a :class:`JSONInputError` with a clear message.

    A body that is JSON but nests deeper than ``max_depth`` is refused whether
    or not Python's parser could read it, so the answer does not depend on how
    deep the caller's stack happens to be.  The result is whatever JSON holds
    (object, array or scalar): callers check its shape.
    """
    too_deep = f"the JSON is nested more than {max_depth} levels deep"
    try:
        value = loads(data)
    except RecursionError:
        raise JSONInputError(too_deep) from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise JSONInputError(f"the body is not JSON: {exc}") from None
    if _depth(data, value, max_depth) > max_depth:
        raise JSONInputError(too_deep)
    return value


def loads(data: bytes | str) -> t.Any:
    """orjson, several times faster than :mod:`json` on a page of a thousand entities.

    No depth check: for JSON from outside use :func:`load_json`; this is for
    what the app stored itself after checking it (the mirror's ``raw``).

    What orjson refuses and the standard parser reads (integers beyond 64 bits,
    ``NaN``) or refuses with a clearer message goes to :func:`json.loads`, so
    the result and the errors are the standard parser's.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _depth(data: bytes | str, value: object, limit: int) -> int:
    """The parsed body's depth: from its text when it is UTF-8 (Intuit's), else by walking ``value``."""
    if isinstance(data, bytes) and not _is_utf8(data):  # UTF-16/32 JSON parses too; walk what it gave
        return json_depth(value, limit)
    return text_depth(data, limit)


def _is_utf8(data: bytes) -> bool:
    """JSON in UTF-8 (or ASCII): its first four bytes hold no NUL, which UTF-16 and UTF-32 always put there."""
    return b"\x00" not in data[:4]
