"""Change Data Capture: a company's change log answered in QBO's CDC shape.

Every write appends to :attr:`Company.changes` and every deletion leaves a
tombstone, so "what changed since T" is a pass over the log: the live records
as they are now (once each, oldest change first) and a ``Deleted`` stub for
each record that is gone, capped at ``cap`` objects in all as QBO caps them.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from .client_view import present
from .company import Company


def changed_since(company: Company, names: list[str], since: datetime, cap: int) -> dict[str, t.Any]:
    """Objects of the entities ``names`` changed at or after ``since``; the ``CDCResponse`` body."""
    sums = company.balance_sums()
    changed: dict[str, dict[str, datetime]] = {n: {} for n in names}
    for change in company.changes:
        if change.entity in changed and change.when >= since:
            changed[change.entity][change.entity_id] = change.when
    groups: list[dict[str, t.Any]] = []
    budget = cap
    for name in names:
        live: list[dict[str, t.Any]] = []
        gone: list[dict[str, t.Any]] = []
        for entity_id, _when in sorted(changed[name].items(), key=lambda kv: kv[1]):
            obj = company.table(name).get(entity_id)
            if obj is not None:
                live.append(present(company, name, obj, sums))
            elif (name, entity_id) in company.tombstones:
                gone.append(
                    {
                        "domain": "QBO",
                        "status": "Deleted",
                        "Id": entity_id,
                        "MetaData": {"LastUpdatedTime": company.tombstones[(name, entity_id)]},
                    }
                )
        rows = (live + gone)[: max(budget, 0)]
        budget -= len(rows)
        if rows:
            groups.append({name: rows, "startPosition": 1, "maxResults": len(rows)})
    return {"CDCResponse": [{"QueryResponse": groups or [{}]}]}
