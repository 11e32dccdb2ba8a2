"""One QBO company (realm) as plain data: tables, id sequences, change log.

Kept apart from :mod:`.store` so the balance and relationship arithmetic the
rules need is testable without the locking and event plumbing, and so the
snapshot code in :mod:`.seed` can persist it field by field.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from . import rules


@dataclass
class Change:
    when: datetime
    entity: str
    entity_id: str


class Company:
    """One realm: its tables, id sequences and change log."""

    def __init__(self, realm: str, name: str) -> None:
        self.realm = realm
        self.name = name
        self.tables: dict[str, dict[str, dict[str, Any]]] = {e: {} for e in rules.ENTITIES}
        self.next_ids: dict[str, int] = {}
        self.doc_numbers: dict[str, int] = {}
        self.changes: list[Change] = []
        self.tombstones: dict[tuple[str, str], str] = {}

    def table(self, entity: str) -> dict[str, dict[str, Any]]:
        return self.tables[entity]

    def new_id(self, entity: str) -> str:
        """Ids are per-entity sequences, skipping any id already taken by seeding."""
        table = self.tables[entity]
        number = self.next_ids.get(entity, 1)
        while str(number) in table or (entity, str(number)) in self.tombstones:
            number += 1
        self.next_ids[entity] = number + 1
        return str(number)

    def next_doc_number(self, entity: str) -> str:
        number = self.doc_numbers.get(entity, 1001)
        taken = {o.get("DocNumber") for o in self.tables[entity].values()}
        while str(number) in taken:
            number += 1
        self.doc_numbers[entity] = number + 1
        return str(number)

    def descendants(self, customer_id: str | None) -> set[str]:
        if customer_id is None:
            return set()
        found: set[str] = set()
        frontier = [customer_id]
        customers = self.tables["Customer"]
        while frontier:
            parent = frontier.pop()
            for child in customers.values():
                if (child.get("ParentRef") or {}).get("value") == parent and child["Id"] not in found:
                    found.add(child["Id"])
                    frontier.append(child["Id"])
        return found

    def family(self, customer_id: str) -> set[str]:
        """A customer, its jobs, and its ancestors: payments may cross these."""
        ids = {customer_id} | self.descendants(customer_id)
        current = self.tables["Customer"].get(customer_id)
        while current and current.get("ParentRef"):
            parent_id = current["ParentRef"]["value"]
            ids.add(parent_id)
            current = self.tables["Customer"].get(parent_id)
        return ids

    def applied_to_invoice(self, invoice_id: str | None, exclude_payment: str | None = None) -> float:
        if invoice_id is None:
            return 0.0
        total = Decimal("0")
        for payment in self.tables["Payment"].values():
            if payment["Id"] == exclude_payment:
                continue
            for line in payment.get("Line") or []:
                if any(l.get("TxnType") == "Invoice" and l.get("TxnId") == invoice_id
                       for l in line.get("LinkedTxn") or []):
                    total += Decimal(str(line.get("Amount", 0)))
        return float(total)

    def balances(self) -> dict[str, float]:
        """Open balance per customer: opening + open invoices − unapplied credit."""
        own: dict[str, Decimal] = {cid: Decimal(str(c.get("_opening", 0)))
                                   for cid, c in self.tables["Customer"].items()}

        def add(customer_ref: dict[str, Any], amount: Any) -> None:
            cid = customer_ref.get("value")
            if cid in own:
                own[cid] += Decimal(str(amount or 0))

        for inv in self.tables["Invoice"].values():
            add(inv["CustomerRef"], inv.get("Balance", 0))
        for memo in self.tables["CreditMemo"].values():
            add(memo["CustomerRef"], -Decimal(str(memo.get("RemainingCredit", 0))))
        for pay in self.tables["Payment"].values():
            add(pay["CustomerRef"], -Decimal(str(pay.get("UnappliedAmt", 0))))
        return {cid: float(v) for cid, v in own.items()}

    def balance_sums(self) -> tuple[dict[str, float], dict[str, float]]:
        """(own balance, balance including all jobs) for every customer, in one pass."""
        own = self.balances()
        children: dict[str, list[str]] = {}
        for customer in self.tables["Customer"].values():
            parent = (customer.get("ParentRef") or {}).get("value")
            if parent:
                children.setdefault(parent, []).append(customer["Id"])
        totals: dict[str, Decimal] = {}

        def total(customer_id: str) -> Decimal:
            if customer_id not in totals:
                totals[customer_id] = Decimal(str(own.get(customer_id, 0))) + sum(
                    (total(child) for child in children.get(customer_id, [])), Decimal("0"))
            return totals[customer_id]

        return own, {cid: float(total(cid)) for cid in own}

