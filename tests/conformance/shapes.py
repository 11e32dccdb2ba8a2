"""The key shape of a QBO JSON object: every path it holds and the JSON type there.

Two answers conform when the same paths hold the same kinds of value; the
values themselves (ids, amounts, names) are the emulator's own.  Lines are told
apart by their ``DetailType`` (``Line[SubTotalLineDetail].SubTotalLineDetail``),
so a missing subtotal or tax line shows by name; the elements of any other
list share one shape (``LinkedTxn[].TxnId``).  :func:`xml_shape` does the same
for an XML body: its element paths and attribute names.
"""

from __future__ import annotations

import typing as t
from xml.etree import ElementTree


def json_type(value: object) -> str:
    """The JSON type of a decoded value (``int`` and ``float`` are both numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def shape(value: object, path: str = "") -> dict[str, str]:
    """``{path: JSON type}`` for ``value`` and everything inside it."""
    found: dict[str, str] = {}
    if path:
        found[path] = json_type(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found.update(shape(item, f"{path}.{key}" if path else key))
    elif isinstance(value, list):
        for item in value:
            label = item.get("DetailType") if isinstance(item, dict) and path.endswith("Line") else None
            found.update(shape(item, f"{path}[{label or ''}]"))
    return found


def differences(documented: t.Mapping[str, str], answered: t.Mapping[str, str]) -> tuple[set[str], set[str]]:
    """``(missing paths, paths of another type)`` of an answer against the documented shape."""
    missing = set(documented) - set(answered)
    mistyped = {path for path in set(documented) & set(answered) if documented[path] != answered[path]}
    return missing, mistyped


def without(obj: t.Any, paths: t.Iterable[str]) -> t.Any:
    """A deep copy of ``obj`` without the given paths (same path syntax as :func:`shape`)."""
    dropped = set(paths)

    def walk(value: t.Any, path: str) -> t.Any:
        if isinstance(value, dict):
            return {
                k: walk(v, f"{path}.{k}" if path else k)
                for k, v in value.items()
                if (f"{path}.{k}" if path else k) not in dropped
            }
        if isinstance(value, list):
            kept = []
            for item in value:
                label = item.get("DetailType") if isinstance(item, dict) and path.endswith("Line") else None
                here = f"{path}[{label or ''}]"
                if here not in dropped:
                    kept.append(walk(item, here))
            return kept
        return value

    return walk(obj, "")


def xml_shape(element: ElementTree.Element, path: str = "") -> set[str]:
    """Element paths (namespace kept) and attribute names of an XML document: ``IntuitResponse/Fault@type``."""
    here = f"{path}/{element.tag}" if path else element.tag
    found = {here} | {f"{here}@{name}" for name in element.attrib}
    for child in element:
        found |= xml_shape(child, here)
    return found
