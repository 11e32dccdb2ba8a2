"""A company's history: planned as dated events, then replayed through the store.

The seeder goes through the store's public operations (``create``, ``update``,
``void``) rather than writing records directly, so balances, SyncTokens, the
change log used by CDC and every derived field come out exactly as they would
for data entered through the API. Events are replayed in date order with the
clock :meth:`pinned <flask_qbo.emulator.clock.Clock.pinned>` to each one's
moment, so ids follow dates and ``MetaData``, the change log and CDC agree
with ``TxnDate``: a customer is created some weeks before its first
document, an invoice on its date and updated when it is paid. Every random
choice comes from the one generator passed in; the moments (times of day,
how long before its first document a customer was created) derive from
positions and ids, so the data is the same as drawn.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from ..entities import ESTIMATE_STATUSES
from .data import CATALOGUES
from .data import ESTIMATE_WEIGHTS
from .data import Profile
from .data import money
from .data import ref
from .products import line_item

if t.TYPE_CHECKING:
    import random

    from ..app import Emulator

#: A seeded company opens this long before its history window (and so before its first customer).
OPENING_LEAD = dt.timedelta(days=120)
#: A customer is created 14 to 103 days before its first document.
CUSTOMER_LEAD_DAYS = (14, 90)
#: The first event of a day happens at 08:30, the next ones 11 minutes apart.
DAY_START_MINUTES = 8 * 60 + 30
EVENT_SPACING_MINUTES = 11
LAST_MINUTE = 23 * 60 + 59


def opening_day(today: dt.date, years: int) -> dt.date:
    """The day a company seeded with ``years`` of history was created (its ``CompanyStartDate``)."""
    return today - dt.timedelta(days=365 * years) - OPENING_LEAD


@dataclass(order=True)
class _Event:
    """One dated thing to do; events are replayed in date order so Ids follow dates."""

    when: dt.date
    seq: int
    kind: str = field(compare=False)
    data: dict[str, t.Any] = field(compare=False, default_factory=dict)


class Seeder:
    """Plans a company's history, then replays it through the store.

    Customers are planned as indexes into :attr:`bodies`; a customer's record
    (with the ``Id`` the store gives it) exists once its creation is replayed,
    which happens before any of its documents.
    """

    def __init__(self, emu: Emulator, realm: str, rng: random.Random, catalogue: str) -> None:
        self.store = emu.store
        self.clock = emu.clock
        self.realm = realm
        self.rng = rng
        self.items = CATALOGUES[catalogue]
        self.today = emu.clock.now().date()
        self.events: list[_Event] = []
        self.created: dict[int, dict[str, t.Any]] = {}
        self.bodies: list[dict[str, t.Any]] = []
        self.records: dict[int, dict[str, t.Any]] = {}
        self.parents: dict[int, int] = {}
        self.voided_receipt = False
        self.terms = [x for x in self.store.list(realm, "Term") if x.get("Active", True)]
        self.methods = [x for x in self.store.list(realm, "PaymentMethod") if x.get("Active", True)]
        self.item_rows = {x["Name"]: x for x in self.store.list(realm, "Item")}
        self.us = self.store.company(realm).country() == "US"

    # -- customers ----------------------------------------------------------

    def add_customer(self, profile: Profile) -> int:
        """Plan a customer (its terms and payment method drawn now); returns its index."""
        body = dict(profile.body)
        if profile.extra["term"] and self.terms:
            body["SalesTermRef"] = ref(self.rng.choice(self.terms))
        if profile.extra["method"] and self.methods:
            body["PaymentMethodRef"] = ref(self.rng.choice(self.methods))
        if profile.extra["delivery"]:
            body["PreferredDeliveryMethod"] = profile.extra["delivery"]
        self.bodies.append(body)
        return len(self.bodies) - 1

    def add_job(self, parent: int) -> int:
        """Plan a sub-customer (project) billed with its parent; returns its index."""
        source = self.bodies[parent]
        body = {
            "DisplayName": f"{source.get('FamilyName', 'Main')} backyard remodel",
            "Job": True,
            "BillWithParent": True,
        }
        for name in ("GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "BillAddr"):
            if source.get(name):
                body[name] = source[name]
        self.bodies.append(body)
        self.parents[len(self.bodies) - 1] = parent
        return len(self.bodies) - 1

    def _plan_customers(self, years: int, inactive: set[int]) -> None:
        """Add each customer's creation (and the deactivation of ``inactive`` ones) to the plan.

        A customer is created 14 to 103 days before its first document (a
        day derived from its position, not drawn, so the rest of the data is
        unchanged), a parent before its jobs' first documents too; a job after
        its parent and before its own first document;
        an inactive customer, which has no documents, is made inactive a few
        weeks after it was created.
        """
        first: dict[int, dt.date] = {}
        for event in self.events:
            owner = event.data.get("customer")
            if owner is not None:
                first[owner] = min(first.get(owner, event.when), event.when)
        for job, owner in self.parents.items():  # a parent exists before its jobs' documents
            if job in first:
                first[owner] = min(first.get(owner, first[job]), first[job])
        fallback = self.today - dt.timedelta(days=365 * years)
        created: dict[int, dt.date] = {}
        for index in range(len(self.bodies)):
            number = index + 1
            start = first.get(index, fallback)
            since = start - dt.timedelta(days=CUSTOMER_LEAD_DAYS[0] + (number * 37) % CUSTOMER_LEAD_DAYS[1])
            parent = self.parents.get(index)
            if parent is not None:
                since = min(max(since, created[parent] + dt.timedelta(days=1)), start - dt.timedelta(days=1))
            created[index] = since
            self._event(since, "Customer", customer=index)
            if index in inactive:
                later = since + dt.timedelta(days=21 + (number * 17) % 60)
                self._event(min(later, self.today - dt.timedelta(days=1)), "Deactivate", customer=index)

    # -- planning -----------------------------------------------------------

    def _event(self, when: dt.date, kind: str, **data: t.Any) -> int:
        seq = len(self.events)
        self.events.append(_Event(when, seq, kind, data))
        return seq

    def _lines(self, low: float = 1.0, high: float = 1.0) -> list[dict[str, t.Any]]:
        lines = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            description, lo, hi = self.rng.choice(self.items)
            amount = money(self.rng.uniform(lo, hi) * self.rng.uniform(low, high))
            lines.append(
                {
                    "Amount": amount,
                    "DetailType": "SalesItemLineDetail",
                    "Description": description,
                    "SalesItemLineDetail": line_item(self.item_rows, description, self.us),
                }
            )
        return lines

    def _day(self, start: dt.date, end: dt.date) -> dt.date:
        span = max((end - start).days, 0)
        return start + dt.timedelta(days=self.rng.randint(0, span))

    def plan_customer(self, customer: int, years: int, count: int, estimate_cycle: list[str]) -> None:
        """Plan ``count`` documents for one customer (an index) over the last ``years`` years."""
        start = self.today - dt.timedelta(days=365 * years)
        yesterday = self.today - dt.timedelta(days=1)
        term = self.bodies[customer].get("SalesTermRef")
        due_days = 30
        if term:
            found = next((x for x in self.terms if str(x["Id"]) == term["value"]), None)
            if found is not None and found.get("DueDays") is not None:
                due_days = int(found["DueDays"])
        for _ in range(count):
            when = self._day(start, yesterday)
            kind = self.rng.choices(
                ("Invoice", "Estimate", "SalesReceipt", "CreditMemo", "RefundReceipt"),
                weights=(50, 16, 20, 8, 6),
            )[0]
            if kind == "Invoice":
                self._plan_invoice(customer, when, due_days, term)
            elif kind == "Estimate":
                status = (
                    estimate_cycle.pop()
                    if estimate_cycle
                    else self.rng.choices(
                        ESTIMATE_STATUSES, weights=[ESTIMATE_WEIGHTS.get(s, 10) for s in ESTIMATE_STATUSES]
                    )[0]
                )
                self._event(when, "Estimate", customer=customer, status=status)
            elif kind == "SalesReceipt":
                # The first receipt is always voided so every company shows one.
                void = not self.voided_receipt or self.rng.random() < 0.04
                self.voided_receipt = True
                self._event(when, "SalesReceipt", customer=customer, void=void)
            else:
                self._event(when, kind, customer=customer)

    def _plan_invoice(
        self,
        customer: int,
        when: dt.date,
        due_days: int,
        term: dict[str, str] | None,
    ) -> None:
        due = when + dt.timedelta(days=due_days)
        seq = self._event(when, "Invoice", customer=customer, due=due, term=term)
        roll = self.rng.random()
        if due < self.today:
            outcome = "paid" if roll < 0.72 else "partial" if roll < 0.84 else "void" if roll < 0.89 else "open"
        else:
            outcome = "paid" if roll < 0.3 else "partial" if roll < 0.42 else "open"
        last_day = min(self.today - dt.timedelta(days=1), due + dt.timedelta(days=20))
        if outcome == "void":
            self._event(self._day(when, last_day), "Void", target=seq, entity="Invoice")
        elif outcome in ("paid", "partial"):
            share = 1.0 if outcome == "paid" else self.rng.choice((0.25, 0.4, 0.5, 0.6))
            self._event(self._day(when, last_day), "Payment", customer=customer, target=seq, share=share)

    # -- replay -------------------------------------------------------------

    def _customer(self, event: _Event) -> dict[str, t.Any]:
        """The record of the customer an event is about (created before any of its documents)."""
        return self.records[event.data["customer"]]

    def _customer_ref(self, customer: dict[str, t.Any]) -> dict[str, str]:
        return ref(customer, "DisplayName")

    def _method(self, customer: dict[str, t.Any]) -> dict[str, str] | None:
        if customer.get("PaymentMethodRef"):
            return t.cast("dict[str, str]", customer["PaymentMethodRef"])
        return ref(self.rng.choice(self.methods)) if self.methods else None

    def replay(self, years: int, inactive: set[int]) -> None:
        """Create every planned customer and document in date order, each at its moment.

        Events of one day happen from 08:30 on, 11 minutes apart, in the
        order they were planned.
        """
        self._plan_customers(years, inactive)
        day: dt.date | None = None
        minutes = DAY_START_MINUTES
        for event in sorted(self.events):
            minutes = DAY_START_MINUTES if event.when != day else min(minutes + EVENT_SPACING_MINUTES, LAST_MINUTE)
            day = event.when
            moment = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60), tzinfo=self.clock.tz)
            with self.clock.pinned(moment):
                result = getattr(self, f"_do_{event.kind.lower()}")(event)
            if result is not None:
                self.created[event.seq] = result

    def _do_customer(self, event: _Event) -> None:
        index = event.data["customer"]
        body = dict(self.bodies[index])
        parent = self.parents.get(index)
        if parent is not None:
            body["ParentRef"] = {"value": str(self.records[parent]["Id"])}
        self.records[index] = self.store.create(self.realm, "Customer", body)

    def _do_deactivate(self, event: _Event) -> None:
        current = self._customer(event)
        self.store.update(
            self.realm,
            "Customer",
            {"Id": current["Id"], "SyncToken": current["SyncToken"], "Active": False},
            sparse=True,
        )

    def _base(self, event: _Event) -> dict[str, t.Any]:
        return {
            "TxnDate": event.when.isoformat(),
            "CustomerRef": self._customer_ref(self._customer(event)),
        }

    def _do_invoice(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["DueDate"] = event.data["due"].isoformat()
        body["Line"] = self._lines()
        if event.data["term"]:
            body["SalesTermRef"] = event.data["term"]
        email = self._customer(event).get("PrimaryEmailAddr")
        if email:
            body["BillEmail"] = dict(email)
        return self.store.create(self.realm, "Invoice", body)

    def _do_payment(self, event: _Event) -> dict[str, t.Any]:
        invoice = self.store.read(self.realm, "Invoice", self.created[event.data["target"]]["Id"])
        amount = money(Decimal(str(invoice["Balance"])) * Decimal(str(event.data["share"])))
        body: dict[str, t.Any] = {
            "TxnDate": event.when.isoformat(),
            "CustomerRef": self._customer_ref(self._customer(event)),
            "TotalAmt": amount,
            "PaymentRefNum": str(self.rng.randint(1000, 9999)),
            "Line": [
                {
                    "Amount": amount,
                    "LinkedTxn": [{"TxnId": str(invoice["Id"]), "TxnType": "Invoice"}],
                }
            ],
        }
        method = self._method(self._customer(event))
        if method:
            body["PaymentMethodRef"] = method
        return self.store.create(self.realm, "Payment", body)

    def _do_void(self, event: _Event) -> None:
        target = self.created[event.data["target"]]
        current = self.store.read(self.realm, event.data["entity"], target["Id"])
        self.store.void(self.realm, event.data["entity"], current["Id"], current["SyncToken"])

    def _do_estimate(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["Line"] = self._lines()
        body["ExpirationDate"] = (event.when + dt.timedelta(days=30)).isoformat()
        body["TxnStatus"] = event.data["status"]
        if event.data["status"] == "Accepted":
            customer = self._customer(event)
            body["AcceptedBy"] = f"{customer.get('GivenName', '')} {customer.get('FamilyName', '')}".strip()
            latest = min(self.today - dt.timedelta(days=1), event.when + dt.timedelta(days=14))
            body["AcceptedDate"] = self._day(event.when, latest).isoformat()
        return self.store.create(self.realm, "Estimate", body)

    def _do_salesreceipt(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["Line"] = self._lines(0.3, 0.8)
        method = self._method(self._customer(event))
        if method:
            body["PaymentMethodRef"] = method
        created = self.store.create(self.realm, "SalesReceipt", body)
        if event.data.get("void"):
            created = self.store.void(self.realm, "SalesReceipt", created["Id"], created["SyncToken"])
        return created

    def _do_creditmemo(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["Line"] = self._lines(0.1, 0.3)[:1]
        body["PrivateNote"] = "Goodwill credit"
        return self.store.create(self.realm, "CreditMemo", body)

    def _do_refundreceipt(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["Line"] = self._lines(0.1, 0.4)[:1]
        method = self._method(self._customer(event))
        if method:
            body["PaymentMethodRef"] = method
        return self.store.create(self.realm, "RefundReceipt", body)
