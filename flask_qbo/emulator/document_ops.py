"""What happens to sales documents after they exist: send, void, pay, convert, PDF.

A mixin of :class:`~.store.Store` (it uses the store's lock, ``_commit`` and
SyncToken check), kept in its own module so the store stays the generic CRUD
engine. Every change here is an ordinary store change: stamped, logged for
CDC and announced to webhooks, so ``Emailed``, ``Void`` and the estimate's
``Update`` after a conversion reach a client as they would from QBO.

Estimate conversion (facts §6): when an invoice is saved with a link to an
estimate, the estimate gets ``TxnStatus`` Closed and a ``LinkedTxn`` back to
the invoice; when the link goes (the invoice is updated without it, voided or
deleted) the estimate gets its former status back. An estimate still linked
to an invoice cannot be deleted.
"""

from __future__ import annotations

import typing as t
from decimal import Decimal

from . import errors
from . import pdf
from .client_view import present
from .entities import TRANSACTIONS
from .entities import VOIDABLE
from .rules.documents import estimate_link

if t.TYPE_CHECKING:
    from .company import Company
    from .store import Store

#: Where an estimate keeps the status it had before an invoice closed it.
STATUS_BEFORE_LINK = "_status_before_link"
#: ``BillEmail.Address`` may hold at most this many characters (facts §2.6).
MAX_EMAIL = 100


class DocumentOps:
    """Send, void, pay and PDF, plus the estimate links every invoice write keeps in step.

    Only :class:`~.store.Store` mixes this in; each method names its ``self``
    ``store`` (a cast) to reach the store's lock, tables and ``_commit``.
    """

    # ------------------------------------------------------------------ send and PDF

    def send(self, realm: str, entity: str, entity_id: object, to: str | None = None) -> dict[str, t.Any]:
        """Email a document: ``EmailStatus`` EmailSent and ``DeliveryInfo``; ``to`` replaces ``BillEmail``.

        A document with neither a ``BillEmail`` nor a ``to`` address is refused
        (6000; QBO's own answer is not documented).
        """
        store = t.cast("Store", self)
        entity = store.entity_name(entity)
        if entity not in TRANSACTIONS:
            raise errors.unsupported(f"Operation Send is not supported for {entity}.")
        with store.lock:
            company = store.company(realm)
            current = store._get(company, entity, entity_id)
            if to is not None and len(to) > MAX_EMAIL:
                raise errors.too_long("sendTo", MAX_EMAIL)
            if not to and not (current.get("BillEmail") or {}).get("Address"):
                raise errors.business(
                    "An email address is required to send this transaction: set BillEmail.Address or pass sendTo.",
                    "BillEmail",
                )
            if to:
                current["BillEmail"] = {"Address": to}
            current["EmailStatus"] = "EmailSent"
            current["DeliveryInfo"] = {"DeliveryType": "Email", "DeliveryTime": store.clock.iso()}
            store._commit(company, entity, current, "Emailed")
            return present(company, entity, current)

    def pdf(self, realm: str, entity: str, entity_id: object) -> bytes:
        """A small but valid PDF of the document."""
        store = t.cast("Store", self)
        entity = store.entity_name(entity)
        if entity not in TRANSACTIONS:
            raise errors.unsupported(f"Operation PDF is not supported for {entity}.")
        with store.lock:
            company = store.company(realm)
            obj = present(company, entity, store._get(company, entity, entity_id))
            return pdf.render(company.name, entity, obj)

    # ------------------------------------------------------------------ void

    def void(self, realm: str, entity: str, entity_id: object, sync_token: object) -> dict[str, t.Any]:
        """Keep the record, zero its amounts, prefix ``PrivateNote`` with ``Voided``, drop its links.

        A paid or part-paid invoice is refused (the stricter of the two
        behaviours reported for QBO, facts §2.8).
        """
        store = t.cast("Store", self)
        entity = store.entity_name(entity)
        if entity not in VOIDABLE:
            raise errors.unsupported(f"Operation Void is not supported for {entity}.")
        with store.lock:
            company = store.company(realm)
            current = store._get(company, entity, entity_id)
            store._check_token(current, sync_token)
            if entity == "Invoice" and company.applied_to_invoice(current["Id"]):
                raise errors.business("This invoice has payments applied. Unlink the payments before voiding it.")
            links = company.linked_invoices(current) if entity == "Payment" else set()
            for line in current.get("Line") or []:
                line["Amount"] = 0
                detail = line.get("SalesItemLineDetail")
                if isinstance(detail, dict) and "Qty" in detail:
                    detail["Qty"] = 0
            for name in ("TotalAmt", "Balance", "RemainingCredit", "UnappliedAmt", "HomeTotalAmt", "HomeBalance"):
                if name in current:
                    current[name] = 0
            if isinstance(current.get("TxnTaxDetail"), dict):
                current["TxnTaxDetail"] = {"TotalTax": 0}
            note = current.get("PrivateNote")
            current["PrivateNote"] = f"Voided - {note}" if note else "Voided"
            current["_voided"] = True
            released = estimate_link(current) if entity == "Invoice" else None
            if entity == "Invoice":
                current["LinkedTxn"] = []
            store._commit(company, entity, current, "Void")
            store._relink_invoices(company, links)
            store._release_estimate(company, released)
            return present(company, entity, current)

    # ------------------------------------------------------------------ payments

    def pay_invoice(self, realm: str, invoice_id: str, note: str = "") -> dict[str, t.Any]:
        """Record a Payment of an invoice's whole balance (the UI's "Mark paid", the pay link)."""
        store = t.cast("Store", self)
        with store.lock:
            invoice = store._get(store.company(realm), "Invoice", invoice_id)
            balance = Decimal(str(invoice.get("Balance") or 0))
            if invoice.get("_voided") or balance <= 0:
                raise errors.business("This invoice has nothing left to pay.", "Balance")
            body: dict[str, t.Any] = {
                "CustomerRef": {"value": invoice["CustomerRef"]["value"]},
                "TotalAmt": float(balance),
                "Line": [{"Amount": float(balance), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
            }
            if invoice.get("CurrencyRef"):
                body["CurrencyRef"] = dict(invoice["CurrencyRef"])
            if invoice.get("ExchangeRate") is not None:
                body["ExchangeRate"] = invoice["ExchangeRate"]
            if note:
                body["PrivateNote"] = note
            return store.create(realm, "Payment", body)

    # ------------------------------------------------------------------ estimate links

    def _sync_estimate(self, company: Company, invoice: dict[str, t.Any], before: str | None) -> None:
        """After an invoice write: close a newly linked estimate, release one no longer linked."""
        store = t.cast("Store", self)
        after = estimate_link(invoice)
        if before == after:
            return
        store._release_estimate(company, before)
        estimate = company.table("Estimate").get(after) if after else None
        if estimate is not None:
            estimate[STATUS_BEFORE_LINK] = estimate.get("TxnStatus") or "Pending"
            estimate["TxnStatus"] = "Closed"
            estimate["LinkedTxn"] = [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]
            store._commit(company, "Estimate", estimate, "Update")

    def _release_estimate(self, company: Company, estimate_id: str | None) -> None:
        """Take an invoice's link off an estimate and give it back the status it had before."""
        store = t.cast("Store", self)
        estimate = company.table("Estimate").get(estimate_id) if estimate_id else None
        if estimate is None:
            return
        estimate["LinkedTxn"] = []
        estimate["TxnStatus"] = estimate.pop(STATUS_BEFORE_LINK, "Pending")
        store._commit(company, "Estimate", estimate, "Update")

    @staticmethod
    def _before_delete(company: Company, entity: str, current: dict[str, t.Any]) -> str | None:
        """Refuse deleting a linked estimate; the estimate an invoice about to go releases (its id)."""
        if entity == "Estimate" and current.get("LinkedTxn"):
            invoices = ", ".join(str(link.get("TxnId")) for link in current["LinkedTxn"])
            raise errors.business(
                f"This estimate is linked to invoice {invoices}. Unlink it from the invoice before deleting it.",
                "LinkedTxn",
            )
        return estimate_link(current) if entity == "Invoice" else None
