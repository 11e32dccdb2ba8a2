"""Bulk lookups for a batch of new contacts: their customers by email, then by DisplayName.

Matching 30 new contacts one by one costs 60 queries; here it costs two: one
``PrimaryEmailAddr IN (...)`` and one ``DisplayName IN (...)``, both with
``Active IN (true, false)`` so inactive (" (deleted)") customers are found too,
as the single-row match (:func:`flask_qbo.sync.push.create.find_match`) finds
them.

Intuit lists ``IN`` among the query operators and ``PrimaryEmailAddr`` among
the filterable Customer properties, but no public source shows the two used
together.  So a company that answers the email ``IN`` with a 400 fault is
remembered for the life of the process (:func:`refuses_email_in`), and its
emails are looked up with one batch request of ``PrimaryEmailAddr = '...'``
query items instead: still one request per 30 contacts.  An email whose query
item faults is *unknown*, and its contact goes through the single-row path.
"""

from __future__ import annotations

import logging
import threading
import typing as t

from ...errors import QBOValidationError
from ...intuit.faults import batch_error
from ...intuit.query import quote
from ..payload import get_path

if t.TYPE_CHECKING:
    from ...intuit.client import QBOClient

log = logging.getLogger(__name__)

#: Companies (realm ids) that refused a ``PrimaryEmailAddr IN`` query in this process.
_REFUSED: set[str] = set()
_REFUSED_LOCK = threading.Lock()


def refuses_email_in(realm_id: str) -> bool:
    """True once the company answered a ``PrimaryEmailAddr IN`` query with a 400 fault."""
    with _REFUSED_LOCK:
        return realm_id in _REFUSED


def _remember_refusal(realm_id: str) -> None:
    with _REFUSED_LOCK:
        _REFUSED.add(realm_id)


def _in_list(values: t.Iterable[str]) -> str:
    return ", ".join(quote(v) for v in values)


def customers_by_email(
    client: QBOClient, emails: t.Collection[str]
) -> tuple[dict[str, list[dict[str, t.Any]]], set[str]]:
    """Customers per lower-cased email, and the emails that could not be looked up.

    Every email asked for is a key of the first mapping (possibly with no
    customer) unless it is in the second set.
    """
    wanted = sorted({e.lower() for e in emails if e})
    if not wanted:
        return {}, set()
    realm = client.realm_id
    if not refuses_email_in(realm):
        statement = f"SELECT * FROM Customer WHERE PrimaryEmailAddr IN ({_in_list(wanted)}) AND Active IN (true, false)"
        try:
            return _by_email(client.query(statement), wanted), set()
        except QBOValidationError as exc:
            if exc.status != 400:
                raise
            _remember_refusal(realm)
            log.info(
                "QuickBooks company %s refused an email IN query (%s); looking emails up with batch queries.",
                realm,
                exc,
                extra={"qbo_realm": realm, "intuit_tid": exc.intuit_tid},
            )
    return _by_email_items(client, wanted)


def _by_email(rows: t.Iterable[dict[str, t.Any]], wanted: list[str]) -> dict[str, list[dict[str, t.Any]]]:
    found: dict[str, list[dict[str, t.Any]]] = {email: [] for email in wanted}
    for row in rows:
        email = str(get_path(row, "PrimaryEmailAddr.Address") or "").lower()
        if email in found:
            found[email].append(row)
    return found


def _by_email_items(client: QBOClient, wanted: list[str]) -> tuple[dict[str, list[dict[str, t.Any]]], set[str]]:
    """One batch request of ``PrimaryEmailAddr = '...'`` query items (the refusal fallback)."""
    items = [
        {"Query": f"SELECT * FROM Customer WHERE PrimaryEmailAddr = {quote(e)} AND Active IN (true, false)"}
        for e in wanted
    ]
    found: dict[str, list[dict[str, t.Any]]] = {}
    unknown: set[str] = set()
    for email, answer in zip(wanted, client.batch(items)):
        page = answer.get("QueryResponse")
        if batch_error(answer) is not None or not isinstance(page, dict):
            unknown.add(email)
            continue
        rows = next((v for v in page.values() if isinstance(v, list)), [])
        found.update(_by_email(rows, [email]))
    return found, unknown


def customers_by_name(client: QBOClient, names: t.Collection[str]) -> list[dict[str, t.Any]]:
    """Every customer, active or not, whose DisplayName is one of ``names`` (QBO compares them case-blind)."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    return list(
        client.query(f"SELECT * FROM Customer WHERE DisplayName IN ({_in_list(wanted)}) AND Active IN (true, false)")
    )
