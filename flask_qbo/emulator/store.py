"""Thread-safe in-memory QBO companies.

Objects are kept in QBO's own JSON shapes so the API layer can return them as
they are. Every change goes through :meth:`Store._commit`, which stamps
``MetaData``, appends to the per-realm change log (answering CDC) and notifies
listeners (webhooks), so a change made from Python, the HTTP API or the web UI
is indistinguishable downstream.

This module owns the companies, the lock and the write operations (create,
update, delete, merge); what is done to a sales document once it exists
(send, void, pay, PDF, estimate conversion) is the :mod:`.document_ops` mixin. What a new company starts with is
:mod:`.defaults`, how a record is shown to a client :mod:`.client_view`, the
CDC answer :mod:`.cdc`, and what each entity validates :mod:`.rules`.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import threading
import typing as t
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from decimal import Decimal

from . import errors
from . import query
from . import rules
from . import selection
from .cdc import changed_since
from .client_view import present
from .client_view import shown
from .clock import Clock
from .company import Change
from .company import Company
from .config import EmulatorConfig
from .defaults import fill_new_company
from .document_ops import DocumentOps
from .entities import BY_LOWER
from .entities import CREATABLE
from .entities import NAME_LISTS
from .entities import NOT_IN_CDC
from .entities import READ_ONLY
from .entities import TRANSACTIONS
from .errors import EmulatorFault
from .realms import is_realm_id
from .realms import not_a_realm
from .rules.documents import check_unique_number
from .rules.documents import estimate_link
from .rules.items import refresh_item_names
from .rules.values import money
from .settings import CURRENCY_NAMES
from .settings import CompanySettings

#: ``listener(realm, entity, entity_id, operation, when, deleted_id)``; operations
#: use the legacy webhook names: Create, Update, Delete, Merge, Void, Emailed.
Listener = Callable[[str, str, str, str, datetime, "str | None"], None]


class Store(DocumentOps):
    """All companies of one emulator, guarded by a single re-entrant lock."""

    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self.clock = clock
        self.config = config
        self.lock = threading.RLock()
        self._companies: dict[str, Company] = {}
        self.listeners: list[Listener] = []

    # ------------------------------------------------------------------ companies

    def add_company(
        self, realm_id: str, name: str, settings: CompanySettings | None = None, **company_info: object
    ) -> None:
        """Create a company with QBO's default terms, payment methods, accounts and tax list.

        ``settings`` default to :attr:`EmulatorConfig.company_settings`; a
        ``Country`` among ``company_info`` picks the country of those defaults.

        :raises ValueError: ``realm_id`` is not a company id (every other entry
            point trusts the companies created here), or the country is not one
            the emulator models.
        """
        if not is_realm_id(realm_id):
            raise ValueError(not_a_realm(realm_id))
        if settings is None:
            country = str(company_info.pop("Country", self.config.company_settings.country))
            settings = dataclasses.replace(self.config.company_settings, country=country)
        elif company_info.pop("Country", settings.country) != settings.country:
            raise ValueError("Country and settings.country disagree")
        with self.lock:
            if realm_id in self._companies:
                raise EmulatorFault(400, "6000", "Duplicate company", f"Realm {realm_id} already exists")
            company = Company(realm_id, name)
            self._companies[realm_id] = company
            currency = settings.currency(self.config.home_currency)
            fill_new_company(company, self._meta(), currency, self.clock.today(), company_info, settings)

    def companies(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(realm, c.name) for realm, c in self._companies.items()]

    def has_company(self, realm: str) -> bool:
        with self.lock:
            return realm in self._companies

    def company(self, realm: str) -> Company:
        try:
            return self._companies[realm]
        except KeyError:
            raise EmulatorFault(400, "610", "Object Not Found", f"Company {realm} not found") from None

    # ------------------------------------------------------------------ helpers

    def _currency(self, company: Company) -> dict[str, str]:
        """The company's home currency as a reference (its name as the emulator was configured, or known)."""
        code = company.prefs.home_currency
        name = self.config.home_currency[1] if code == self.config.home_currency[0] else CURRENCY_NAMES.get(code, code)
        return {"value": code, "name": name}

    def _meta(self, when: datetime | None = None) -> dict[str, str]:
        stamp = self.clock.iso(when)
        return {"CreateTime": stamp, "LastUpdatedTime": stamp}

    @staticmethod
    def entity_name(entity: str) -> str:
        canonical = BY_LOWER.get(str(entity).lower())
        if canonical is None:
            raise errors.unsupported(f"Operation Could not find resource for entity {entity} not supported.")
        return canonical

    def _get(self, company: Company, entity: str, entity_id: object) -> dict[str, t.Any]:
        obj = company.table(entity).get(str(entity_id))
        if obj is None:
            raise errors.not_found()
        return obj

    def _commit(
        self,
        company: Company,
        entity: str,
        obj: dict[str, t.Any],
        operation: str,
        deleted_id: str | None = None,
        bump: bool = True,
    ) -> None:
        """Stamp, index, log and announce one change."""
        company.track(entity, obj)
        now = self.clock.now()
        meta = obj.setdefault("MetaData", {})
        meta.setdefault("CreateTime", self.clock.iso(now))
        meta["LastUpdatedTime"] = self.clock.iso(now)
        if bump and operation != "Create":
            obj["SyncToken"] = str(int(obj.get("SyncToken", "0")) + 1)
        obj["domain"], obj["sparse"] = "QBO", False
        company.changes.append(Change(now, entity, obj["Id"]))
        self._notify(company.realm, entity, obj["Id"], operation, now, deleted_id)

    def _notify(
        self, realm: str, entity: str, entity_id: str, operation: str, when: datetime, deleted_id: str | None
    ) -> None:
        for listener in list(self.listeners):
            listener(realm, entity, entity_id, operation, when, deleted_id)

    def _check_token(self, current: dict[str, t.Any], sync_token: object) -> None:
        if sync_token is None or str(sync_token) != str(current.get("SyncToken")):
            raise errors.stale_object()

    # ------------------------------------------------------------------ CRUD

    def create(self, realm: str, entity: str, obj: dict[str, t.Any], include: str = "") -> dict[str, t.Any]:
        """Validate and insert; returns the object as the API would (``include``: the request's options)."""
        entity = self.entity_name(entity)
        if entity not in CREATABLE:
            raise errors.unsupported(f"Operation Create is not supported for {entity}.")
        with self.lock:
            company = self.company(realm)
            prepared = rules.prepare(
                company,
                entity,
                rules.merge_for_write(entity, None, copy.deepcopy(obj), True),
                None,
                self._currency(company),
                self.clock.today(),
            )
            if entity in TRANSACTIONS:
                check_unique_number(company, entity, prepared, None, include)
            prepared["Id"] = company.new_id(entity)
            prepared["SyncToken"] = "0"
            prepared["MetaData"] = self._meta()
            company.table(entity)[prepared["Id"]] = prepared
            self._commit(company, entity, prepared, "Create")
            if entity == "Payment":
                self._relink_invoices(company, company.linked_invoices(prepared))
            if entity == "Invoice":
                self._sync_estimate(company, prepared, None)
            return present(company, entity, prepared)

    def install(self, realm: str, entity: str, row: dict[str, t.Any]) -> dict[str, t.Any]:
        """Add a row made in QBO's own screens, one no client may create (a bundle, say), logged as a Create.

        The row is taken as it is (no rules run): the caller gives it QBO's shape.
        """
        entity = self.entity_name(entity)
        with self.lock:
            company = self.company(realm)
            stored = copy.deepcopy(row)
            stored["Id"] = company.new_id(entity)
            stored["SyncToken"] = "0"
            stored["MetaData"] = self._meta()
            company.table(entity)[stored["Id"]] = stored
            self._commit(company, entity, stored, "Create")
            return present(company, entity, stored)

    def read(self, realm: str, entity: str, entity_id: object) -> dict[str, t.Any]:
        entity = self.entity_name(entity)
        with self.lock:
            company = self.company(realm)
            return present(company, entity, self._get(company, entity, entity_id))

    def update(
        self, realm: str, entity: str, obj: dict[str, t.Any], sparse: bool = True, include: str = ""
    ) -> dict[str, t.Any]:
        """Full or sparse update; the SyncToken must be current (5010 otherwise)."""
        entity = self.entity_name(entity)
        if entity in READ_ONLY:
            raise errors.unsupported(f"Operation Update is not supported for {entity}.")
        if not obj.get("Id"):
            raise errors.required("Id")
        with self.lock:
            company = self.company(realm)
            current = self._get(company, entity, obj["Id"])
            self._check_token(current, obj.get("SyncToken"))
            old_links = company.linked_invoices(current) if entity == "Payment" else set()
            merged = rules.merge_for_write(entity, copy.deepcopy(current), copy.deepcopy(obj), sparse)
            prepared = rules.prepare(company, entity, merged, current, self._currency(company), self.clock.today())
            if entity in TRANSACTIONS:
                check_unique_number(company, entity, prepared, current, include)
            linked_before = estimate_link(current) if entity == "Invoice" else None
            current.clear()
            current.update(prepared)
            if entity == "Invoice":
                current["LinkedTxn"] = company.invoice_links(current)
            self._commit(company, entity, current, "Update")
            if entity == "Invoice":
                self._sync_estimate(company, current, linked_before)
            if entity == "Customer":
                company.refresh_job_names(current["Id"])
            if entity == "Item":
                refresh_item_names(company, current["Id"])
            if entity == "Payment":
                self._relink_invoices(company, old_links | company.linked_invoices(current))
            return present(company, entity, current)

    def delete(self, realm: str, entity: str, entity_id: object, sync_token: object) -> dict[str, t.Any]:
        """Hard-delete a transaction; name lists can only be made inactive."""
        entity = self.entity_name(entity)
        if entity not in TRANSACTIONS:
            raise errors.unsupported(f"Operation Delete is not supported for {entity}.")
        with self.lock:
            company = self.company(realm)
            current = self._get(company, entity, entity_id)
            self._check_token(current, sync_token)
            if entity == "Invoice" and company.applied_to_invoice(current["Id"]):
                raise errors.business(
                    "This invoice has payments applied. Unlink the payments before deleting it.", "Id", code="6000"
                )
            links = company.linked_invoices(current) if entity == "Payment" else set()
            released = self._before_delete(company, entity, current)
            del company.table(entity)[current["Id"]]
            self._tombstone(company, entity, current["Id"], "Delete")
            self._relink_invoices(company, links)
            self._release_estimate(company, released)
            return {"status": "Deleted", "domain": "QBO", "Id": current["Id"]}

    def _tombstone(
        self, company: Company, entity: str, entity_id: str, operation: str, deleted_id: str | None = None
    ) -> None:
        company.untrack(entity, entity_id)
        now = self.clock.now()
        company.tombstones[(entity, entity_id)] = self.clock.iso(now)
        company.changes.append(Change(now, entity, entity_id))
        self._notify(company.realm, entity, entity_id, operation, now, deleted_id)

    def merge_customers(self, realm: str, from_id: str, into_id: str) -> dict[str, t.Any]:
        """What QBO's UI merge does: move transactions and jobs, remove ``from``."""
        with self.lock:
            company = self.company(realm)
            source = self._get(company, "Customer", from_id)
            target = self._get(company, "Customer", into_id)
            if source["Id"] == target["Id"] or target["Id"] in company.descendants(source["Id"]):
                raise errors.business("A customer cannot be merged into itself or one of its sub-customers.")
            for entity in TRANSACTIONS:
                for txn in company.table(entity).values():
                    if txn["CustomerRef"]["value"] == source["Id"]:
                        txn["CustomerRef"] = {"value": target["Id"], "name": target["DisplayName"]}
                        self._commit(company, entity, txn, "Update")
            for child in company.table("Customer").values():
                if (child.get("ParentRef") or {}).get("value") == source["Id"]:
                    child["ParentRef"] = {"value": target["Id"]}
                    company.track("Customer", child)
            target["_opening"] = float(
                Decimal(str(target.get("_opening", 0))) + Decimal(str(source.get("_opening", 0)))
            )
            del company.table("Customer")[source["Id"]]
            company.untrack("Customer", source["Id"])
            now = self.clock.now()
            company.tombstones[("Customer", source["Id"])] = self.clock.iso(now)
            company.changes.append(Change(now, "Customer", source["Id"]))
            company.refresh_job_names(target["Id"])
            self._commit(company, "Customer", target, "Merge", deleted_id=source["Id"])
            return present(company, "Customer", target)

    def _relink_invoices(self, company: Company, invoice_ids: set[str]) -> None:
        """Recompute invoice balances after payments change; each change is an Update."""
        for invoice_id in invoice_ids:
            invoice = company.table("Invoice").get(invoice_id)
            if invoice is None or invoice.get("_voided"):
                continue
            balance = money(Decimal(str(invoice["TotalAmt"])) - Decimal(str(company.applied_to_invoice(invoice_id))))
            linked = company.invoice_links(invoice)
            if balance != invoice.get("Balance") or linked != invoice.get("LinkedTxn"):
                invoice["Balance"] = balance
                invoice["LinkedTxn"] = linked
                self._commit(company, "Invoice", invoice, "Update")

    # ------------------------------------------------------------------ reads

    def list(self, realm: str, entity: str, include_inactive: bool = False) -> list[dict[str, t.Any]]:
        entity = self.entity_name(entity)
        with self.lock:
            company = self.company(realm)
            sums = company.balance_sums() if entity == "Customer" else None
            rows = [present(company, entity, o, sums) for o in company.table(entity).values()]
        rows.sort(key=lambda r: int(r["Id"]) if str(r["Id"]).isdigit() else 0)
        if include_inactive or entity not in NAME_LISTS:
            return rows
        return [r for r in rows if r.get("Active", True)]

    def query(self, realm: str, statement: str) -> dict[str, t.Any]:
        """Run a QBO query; returns ``{"QueryResponse": {...}}`` (without ``time``).

        Rows are filtered, sorted and sliced as stored; only the page returned
        is presented, so paging a big table costs a page, not the table.
        """
        with self.lock:
            company = self.company(realm)
            parsed = query.parse(statement)
            entity = parsed.entity
            sums = company.balance_sums() if entity == "Customer" and _reads_balance(parsed) else None
            return selection.execute(
                parsed,
                company.table(entity).values() if parsed.count else selection.by_id(company.table(entity).values()),
                self.clock.tz,
                field=lambda obj, path: shown(company, entity, obj, path, sums),
                show=lambda obj: present(company, entity, obj, sums),
                ordered=not parsed.count,
            )

    def cdc(self, realm: str, names: builtins.list[str], since: datetime, cap: int = 1000) -> dict[str, t.Any]:
        """Objects of the entities ``names`` changed at or after ``since``, QBO's CDC shape."""
        entities = [self.entity_name(e) for e in names]
        for entity in entities:
            if entity in NOT_IN_CDC:
                raise errors.request_error(f"Entity {entity} is not supported by change data capture.", "entities")
        with self.lock:
            return changed_since(self.company(realm), entities, since, cap)

    def cdc_oldest(self) -> datetime:
        return self.clock.now() - timedelta(days=self.config.cdc_window_days)


def _reads_balance(parsed: query.Query) -> bool:
    """True when a customer query filters or sorts on a derived balance (worth computing all at once)."""
    names = [c.field for c in parsed.where] + [name for name, _ in parsed.order]
    return any(name in ("Balance", "BalanceWithJobs") for name in names)
