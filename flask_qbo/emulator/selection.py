"""Running a parsed query over a table: filter, sort, page, count, project.

:mod:`.query` turns a statement into a :class:`~.query.Query`; here it is run
over rows the way QBO answers it.  The store hands over its *stored* rows with
a way to read a property as the client sees it, and presents only the rows of
the page returned: paging a table of fifty thousand invoices costs the page,
not the table (the import pages every table of a company).
"""

from __future__ import annotations

import operator
import re
import typing as t
from collections.abc import Callable
from datetime import datetime
from datetime import time
from datetime import tzinfo

from . import entities
from .query import Condition
from .query import Query

#: A stored or presented QBO object.
Row = dict[str, t.Any]
#: ``field(row, path)``: the property at a dotted path of a row, as the client sees it.
Field = Callable[[Row, str], t.Any]


def walk(row: Row, path: str) -> t.Any:
    """The property at a dotted ``path`` of an already-presented row (``None`` when absent)."""
    value: t.Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _pick(value: t.Any) -> t.Any:
    """What a condition compares: a reference's ``value`` or an email's ``Address`` for an object."""
    if isinstance(value, dict):
        return value.get("value", value.get("Address"))
    return value


def _as_number(value: t.Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _comparable(field_name: str, actual: t.Any, literal: str | bool, tz: tzinfo) -> tuple[t.Any, t.Any] | None:
    """Coerce a row value and a literal to a common type, or None if incomparable."""
    if actual is None:
        return None
    if isinstance(literal, bool) or isinstance(actual, bool):
        return (actual, literal) if isinstance(actual, bool) and isinstance(literal, bool) else None
    if field_name.startswith("MetaData."):
        try:
            left = datetime.fromisoformat(str(actual))
            text = str(literal).strip().replace("Z", "+00:00")
            right = datetime.fromisoformat(text)
            if right.tzinfo is None:
                right = datetime.combine(right.date(), time(), tz) if len(text) <= 10 else right.replace(tzinfo=tz)
            return left, right
        except ValueError:
            return None
    left_num, right_num = _as_number(actual), _as_number(literal)
    if left_num is not None and right_num is not None:
        return left_num, right_num
    return str(actual).lower(), str(literal).lower()


def _eq_key(value: object) -> tuple[str, float | str]:
    """What ``=`` compares: the number for numeric text, else the lower-cased text (as :func:`_comparable`)."""
    number = _as_number(value)
    return ("n", number) if number is not None else ("s", str(value).lower())


def _eq_keys(cond: Condition) -> frozenset[tuple[str, float | str]] | None:
    """The literals of an ``=``/``IN`` over plain values as a set, else ``None``.

    An ``Id IN (...)`` of a thousand ids then costs one set lookup per row
    instead of a thousand comparisons.  Dates, booleans and the ``' '`` null
    literal keep the general path.
    """
    if cond.op not in ("=", "in") or cond.field.startswith("MetaData."):
        return None
    if any(isinstance(v, bool) or v == " " for v in cond.values):
        return None
    return frozenset(_eq_key(v) for v in cond.values)


def _matches(
    actual: t.Any, cond: Condition, tz: tzinfo, keys: frozenset[tuple[str, float | str]] | None = None
) -> bool:
    """Whether a row whose property ``cond.field`` is ``actual`` passes ``cond``."""
    if keys is not None:
        return actual is not None and not isinstance(actual, bool) and _eq_key(actual) in keys
    if cond.op == "like":
        pattern = "^" + ".*".join(re.escape(p) for p in str(cond.values[0]).split("%")) + "$"
        return actual is not None and re.match(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
    if cond.op in ("=", "in"):
        for literal in cond.values:
            if literal == " " and actual in (None, ""):
                return True
            pair = _comparable(cond.field, actual, literal, tz)
            if pair is not None and pair[0] == pair[1]:
                return True
        return False
    pair = _comparable(cond.field, actual, cond.values[0], tz)
    if pair is None:
        return False
    left, right = pair
    return bool({"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[cond.op])


def _sort_key(value: t.Any) -> tuple[int, t.Any]:
    if value is None:
        return (2, "")
    number = _as_number(value)
    return (0, number) if number is not None else (1, str(value).lower())


def by_id(rows: t.Iterable[Row]) -> list[Row]:
    """``rows`` in the order every query starts from (by ``Id``), as :func:`execute` sorts them.

    QBO's ids are numbers, so the common case sorts plain floats (a fraction
    of the general key's cost on a table of tens of thousands of rows).
    """
    listed = list(rows)
    try:
        numbers = list(map(float, map(operator.itemgetter("Id"), listed)))
    except (KeyError, TypeError, ValueError):
        return sorted(listed, key=lambda r: _sort_key(_pick(walk(r, "Id"))))
    if sorted(numbers) == numbers:  # ids are handed out in order: usually nothing to do
        return listed
    return [listed[i] for i in sorted(range(len(listed)), key=numbers.__getitem__)]


def execute(
    query: Query,
    rows: t.Iterable[Row],
    tz: tzinfo,
    *,
    field: Field = walk,
    show: Callable[[Row], Row] | None = None,
    ordered: bool = False,
) -> dict[str, t.Any]:
    """Filter, sort and page ``rows``; return the QueryResponse body.

    ``field(row, path)`` reads a property as the client sees it and ``show``
    turns a row into what the client gets.  The store passes its stored rows
    with both, so only the page asked for is ever presented (a page of a big
    table costs the page, not the table); the defaults take rows that are
    already presented.  ``ordered`` says the rows come sorted by :func:`by_id`.
    """

    def value(row: Row, path: str) -> t.Any:
        return _pick(field(row, path))

    conditions = list(query.where)
    if query.entity in entities.ACTIVE_BY_DEFAULT and not any(c.field == "Active" for c in conditions):
        conditions.append(Condition("Active", "=", [True]))
    keys = [_eq_keys(c) for c in conditions]
    selected = [r for r in rows if all(_matches(value(r, c.field), c, tz, k) for c, k in zip(conditions, keys))]
    if query.count:
        return {"QueryResponse": {"totalCount": len(selected)}}
    if not ordered:
        selected.sort(key=lambda r: _sort_key(value(r, "Id")))

    def order_by(name: str, descending: bool) -> None:
        selected.sort(key=lambda r: _sort_key(value(r, name)), reverse=descending)
        if descending:  # keep missing values last either way
            selected.sort(key=lambda r: value(r, name) is None)

    for name, descending in reversed(query.order):
        order_by(name, descending)
    page = selected[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {"QueryResponse": {}}
    if show is not None:
        page = [show(r) for r in page]
    if query.fields is not None:
        page = [{f: r[f] for f in query.fields if f in r} for r in page]
    return {"QueryResponse": {query.entity: page, "startPosition": query.start, "maxResults": len(page)}}
