"""What a client sees of a stored record.

The store keeps private bookkeeping on its rows (``_``-prefixed keys such as a
customer's opening balance or a void mark) and never stores derived balances.
Every answer, whether to the HTTP API, the Python API, CDC or a query, goes
through :func:`present`, so all of them show a record the same way.
"""

from __future__ import annotations

import copy
import typing as t

from .company import Company
from .rules.currency import home_amounts

#: (own balance, balance with jobs) per customer id, from :meth:`Company.balance_sums`.
BalanceSums = tuple[dict[str, float], dict[str, float]]


def present(
    company: Company,
    entity: str,
    obj: dict[str, t.Any],
    sums: BalanceSums | None = None,
) -> dict[str, t.Any]:
    """A client-facing deep copy: internal keys removed, derived balances added.

    ``sums`` (from :meth:`Company.balance_sums`) lets list-style callers
    compute every balance in one pass; a single object costs only its own
    customer's (:meth:`Company.balance`).
    """
    lead = {k: obj[k] for k in ("Id", "SyncToken") if k in obj}
    out: dict[str, t.Any] = _with_values({**lead, **{k: v for k, v in obj.items() if not k.startswith("_")}})
    out.update(home_amounts(obj))
    if entity == "Customer":
        if sums is not None:
            out["Balance"] = sums[0].get(obj["Id"], 0.0)
            out["BalanceWithJobs"] = sums[1].get(obj["Id"], 0.0)
        else:
            out["Balance"], out["BalanceWithJobs"] = company.balance(obj["Id"])
    return out


def shown(
    company: Company,
    entity: str,
    obj: dict[str, t.Any],
    path: str,
    sums: BalanceSums | None = None,
) -> t.Any:
    """The property at a dotted ``path`` as :func:`present` would show it, without presenting the rest.

    A query filters and sorts on a few properties of every row of a table but
    presents only the page it returns; this reads one property the way the
    client will see it (internal keys hidden, empty values left out, derived
    balances computed), so filtering stored rows gives the same answer as
    filtering presented ones.
    """
    top, _, rest = path.partition(".")
    if entity == "Customer" and top in ("Balance", "BalanceWithJobs") and not rest:
        both = (sums[0].get(obj["Id"], 0.0), sums[1].get(obj["Id"], 0.0)) if sums else company.balance(obj["Id"])
        return both[top == "BalanceWithJobs"]
    value = None if top.startswith("_") else obj.get(top)
    for part in rest.split(".") if rest else ():
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, (dict, list)):
        value = _with_values(value)
        return None if value == {} and not _empty_by_design(obj, path) else value
    return None if value in ("", None) else value


def _empty_by_design(obj: dict[str, t.Any], path: str) -> bool:
    """True when the stored object at ``path`` is itself ``{}`` (kept, as QBO keeps such objects)."""
    value: t.Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return bool(value == {})


def _with_values(value: t.Any) -> t.Any:
    """A deep copy keeping only properties that have values, as QBO returns them.

    A client that clears a field sends ``""``; QBO then leaves the property out
    of its answers instead of echoing an empty string, and an object left with
    nothing (an email whose address was cleared) goes with it. An object that
    is empty by design stays: QBO sends ``"SubTotalLineDetail": {}``.
    """
    if isinstance(value, dict):
        kept: dict[str, t.Any] = {}
        for key, inner in value.items():
            shown = _with_values(inner)
            if shown in ("", None) or (shown == {} and inner != {}):
                continue
            kept[key] = shown
        return kept
    if isinstance(value, list):
        return [_with_values(item) for item in value]
    return copy.deepcopy(value)
