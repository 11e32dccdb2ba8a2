"""What the emulator web UI's pages list, read from the store.

A customer's documents with their status, the open invoices a payment may
apply to, the active terms and payment methods a form offers, and the
documents linked to a transaction. Each returns plain records for the
templates; nothing here writes.
"""

from __future__ import annotations

from .ui_context import DIGITS
from .ui_context import PAGE_FOR_ENTITY
from .ui_context import TXN_PAGES
from .ui_context import Record
from .ui_context import clock_today
from .ui_context import emulator
from .ui_context import txn_link
from .ui_forms import txn_status


def customer_transactions(realm: str, customer_id: str) -> list[Record]:
    """Every document of the six sales types that names this customer, newest first."""
    store = emulator().store
    today = clock_today()
    rows: list[Record] = []
    for entity in TXN_PAGES.values():
        for txn in store.list(realm, entity):
            if str((txn.get("CustomerRef") or {}).get("value")) != customer_id:
                continue
            rows.append(
                {
                    "entity": entity,
                    "txn": txn,
                    "status": txn_status(entity, txn, today),
                    "url": txn_link(entity, str(txn["Id"])),
                }
            )
    rows.sort(key=lambda r: (r["txn"].get("TxnDate", ""), int(r["txn"]["Id"])), reverse=True)
    return rows


def reference_lists(realm: str) -> dict[str, list[Record]]:
    store = emulator().store
    return {
        "terms": [x for x in store.list(realm, "Term") if x.get("Active", True)],
        "methods": [x for x in store.list(realm, "PaymentMethod") if x.get("Active", True)],
        "tax_codes": _default_tax_code(realm),
    }


def _default_tax_code(realm: str) -> list[Record]:
    """A non-US company's default sales tax code, which QBO's forms put on a new line (none in the US)."""
    store = emulator().store
    with store.lock:
        code = store.company(realm).prefs.tax_group_code
    return [store.read(realm, "TaxCode", code)] if code else []


def payable_invoices(transactions: list[Record]) -> list[Record]:
    """Invoices with a balance left, oldest first (the order payments apply in)."""
    return sorted(
        (
            r["txn"]
            for r in transactions
            if r["entity"] == "Invoice" and r["status"] in ("Open", "Overdue", "Partially paid")
        ),
        key=lambda i: (i.get("TxnDate", ""), int(i["Id"])),
    )


def linked_rows(realm: str, entity: str, txn: Record) -> list[Record]:
    """Documents linked to this one (payments of an invoice, invoices of a payment)."""
    links: list[Record] = list(txn.get("LinkedTxn") or [])
    if entity == "Payment":
        for line in txn.get("Line") or []:
            links.extend(line.get("LinkedTxn") or [])
    rows = []
    for item in links:
        kind = str(item.get("TxnType", ""))
        txn_id = str(item.get("TxnId", ""))
        rows.append(
            {
                "type": kind,
                "id": txn_id,
                "url": txn_link(kind, txn_id) if kind in PAGE_FOR_ENTITY and DIGITS.fullmatch(txn_id) else None,
            }
        )
    return rows
