"""Deterministic demo data for the QBO emulator, and JSON persistence of a store.

The seed goes through the store's public operations (``create``, ``update``,
``void``) rather than writing records directly, so balances, SyncTokens, the
change log used by CDC and every derived field come out exactly as they would
for data entered through the API. Only the random choices are ours, and they
come from ``random.Random(seed)``: the same seed always yields the same names,
amounts and outcomes. Dates are placed relative to ``emu.clock.now()`` so the
data always looks current (invoices are overdue "now", not in some fixed year).

Webhooks: seeding creates hundreds of entities and must not flood a listener,
so the store's change listeners are detached while a company is seeded (the
change log, and so CDC, still sees everything).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import typing as t
from dataclasses import dataclass
from dataclasses import field
from decimal import ROUND_HALF_UP
from decimal import Decimal

from .entities import ENTITIES
from .entities import ESTIMATE_STATUSES
from .store import Change

if t.TYPE_CHECKING:
    from .app import Emulator

DEMO_REALM = "9130357766412345"
"""Realm of the fully seeded demo company."""

SECOND_REALM = "9130357766467890"
"""Realm of the smaller second company, to exercise the company picker."""

DEMO_COMPANY_NAME = "Craig's Design and Landscaping Services"
SECOND_COMPANY_NAME = "Ocean View Traders"

DEMO_SEED = 42
"""Seed used by :func:`seed_demo` for the demo company."""

TRANSACTION_TYPES = (
    "Invoice",
    "Payment",
    "Estimate",
    "SalesReceipt",
    "CreditMemo",
    "RefundReceipt",
)


_FIRST_NAMES = (
    "Amelia",
    "Benjamin",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farah",
    "Gabriel",
    "Hannah",
    "Isaac",
    "Jasmine",
    "Kenji",
    "Leila",
    "Marcus",
    "Nadia",
    "Oscar",
    "Priya",
    "Quentin",
    "Rosa",
    "Samuel",
    "Tamsin",
    "Umar",
    "Valeria",
    "Wesley",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Harold",
    "Ingrid",
    "Julian",
    "Keiko",
)
_LAST_NAMES = (
    "Abernathy",
    "Blackwood",
    "Castellano",
    "Delacroix",
    "Eriksen",
    "Fairbanks",
    "Galloway",
    "Hollister",
    "Iwasaki",
    "Jablonski",
    "Kowalczyk",
    "Lindqvist",
    "Montgomery",
    "Novak",
    "Okonkwo",
    "Pemberton",
    "Quintero",
    "Rasmussen",
    "Sorensen",
    "Thibodeaux",
    "Underwood",
    "Valdivia",
    "Whitfield",
    "Yamamoto",
    "Zielinski",
    "Ashworth",
    "Brennan",
    "Chandler",
    "Dunmore",
    "Ellsworth",
)
_BUSINESS_KINDS = (
    "Dental Group",
    "Realty",
    "Bakery",
    "Veterinary Clinic",
    "Law Office",
    "Hardware",
    "Bistro",
    "Yoga Studio",
    "Auto Repair",
    "Family Farm",
    "Architects",
    "Bookshop",
    "Brewing Co.",
    "Pet Grooming",
    "Medical Supplies",
)
_STREETS = (
    "Maple Ave",
    "Oak St",
    "Cedar Ln",
    "Harbor Blvd",
    "Sunset Dr",
    "Mission St",
    "Elm Ct",
    "Ridge Rd",
    "Lakeview Ter",
    "Pine Way",
    "Granite Pkwy",
    "Willow Pl",
)
# (city, state, first three digits of its ZIP codes, area code)
_PLACES = (
    ("Sacramento", "CA", "958", "916"),
    ("Palo Alto", "CA", "943", "650"),
    ("Bayshore", "CA", "940", "415"),
    ("Portland", "OR", "972", "503"),
    ("Seattle", "WA", "981", "206"),
    ("Boise", "ID", "837", "208"),
    ("Reno", "NV", "895", "775"),
    ("Phoenix", "AZ", "850", "602"),
    ("Denver", "CO", "802", "303"),
    ("Austin", "TX", "787", "512"),
    ("Madison", "WI", "537", "608"),
    ("Burlington", "VT", "054", "802"),
)
_NOTES = (
    "Prefers to be contacted by email.",
    "Gate code 4417; dog in the back yard.",
    "Invoices go to the office manager.",
    "Long-time customer; referred by a neighbour.",
    "Seasonal account: busy from April to October.",
    "Asked for a quote on the spring clean-up.",
)
_DELIVERY_METHODS = ("Email", "Email", "Print", "None")
#: How often each estimate status is drawn once every status has appeared.
_ESTIMATE_WEIGHTS = {"Pending": 30, "Accepted": 20, "Closed": 25, "Rejected": 15, "Converted": 10}

_CATALOGUES: dict[str, tuple[tuple[str, int, int], ...]] = {
    # (line description, min amount, max amount) in whole dollars. Lines use the
    # company's default "Services" item, the only item a new company has.
    "landscaping": (
        ("Weekly garden maintenance", 60, 420),
        ("Landscape design consultation", 150, 900),
        ("Sprinkler system installation", 400, 2800),
        ("Tree and hedge trimming", 90, 650),
        ("Outdoor lighting fixtures", 120, 1500),
        ("Pest control treatment", 70, 300),
        ("Garden soil and mulch, delivered", 40, 380),
        ("Hardscape: patio pavers laid", 600, 4200),
    ),
    "trading": (
        ("Teak deck chairs", 180, 1600),
        ("Braided marine rope, per spool", 35, 260),
        ("Brass harbour lanterns", 45, 520),
        ("Heavy canvas covers", 80, 900),
        ("Freight and handling", 25, 300),
    ),
}


@dataclass
class _Profile:
    """A customer to create: the QBO body plus the choices made for its history."""

    body: dict[str, t.Any]
    email: str
    inactive: bool = False
    extra: dict[str, t.Any] = field(default_factory=dict)


def _money(value: float | Decimal) -> float:
    """Round to cents the way an invoice would (half up), as a JSON number."""
    return float(Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _address(rng: random.Random) -> dict[str, str]:
    city, state, zip_prefix, _area = rng.choice(_PLACES)
    return {
        "Line1": f"{rng.randint(10, 9899)} {rng.choice(_STREETS)}",
        "City": city,
        "CountrySubDivisionCode": state,
        "PostalCode": f"{zip_prefix}{rng.randint(1, 99):02d}",
        "Country": "USA",
    }


def _customer_profiles(rng: random.Random, count: int) -> list[_Profile]:
    """Build ``count`` distinct customers; a pure function of the generator state.

    Kept separate from any emulator so :data:`DEMO_CUSTOMER_EMAILS` can be
    computed without building one. The last profile is the inactive customer.
    """
    profiles: list[_Profile] = []
    used_names: set[str] = set()
    while len(profiles) < count:
        given = rng.choice(_FIRST_NAMES)
        family = rng.choice(_LAST_NAMES)
        has_company = rng.random() < 0.7
        company = f"{family} {rng.choice(_BUSINESS_KINDS)}" if has_company else ""
        display = company or f"{given} {family}"
        if display in used_names:
            continue
        used_names.add(display)
        domain = f"{_slug(company)}.example.com" if company else "example.net"
        email = f"{_slug(given)}.{_slug(family)}@{domain}"
        bill = _address(rng)
        area = next(p[3] for p in _PLACES if p[1] == bill["CountrySubDivisionCode"])
        body: dict[str, t.Any] = {
            "DisplayName": display,
            "GivenName": given,
            "FamilyName": family,
            "PrimaryEmailAddr": {"Address": email},
            "PrimaryPhone": {"FreeFormNumber": f"({area}) 555-{rng.randint(100, 199):04d}"},
            "BillAddr": bill,
            "ShipAddr": dict(bill) if rng.random() < 0.7 else _address(rng),
        }
        if company:
            body["CompanyName"] = company
        if rng.random() < 0.5:
            body["Notes"] = rng.choice(_NOTES)
        if rng.random() < 0.3:
            body["Mobile"] = {"FreeFormNumber": f"({area}) 555-{rng.randint(200, 299):04d}"}
        extra = {
            "term": rng.random() < 0.85,
            "method": rng.random() < 0.8,
            "delivery": rng.choice(_DELIVERY_METHODS) if rng.random() < 0.9 else None,
        }
        profiles.append(_Profile(body=body, email=email, extra=extra))
    if profiles:
        profiles[-1].inactive = True
    return profiles


DEMO_CUSTOMER_EMAILS: list[str] = [p.email for p in _customer_profiles(random.Random(DEMO_SEED), 30)[:6]]
"""Emails of a few active demo customers, for a demo CRM's matching contacts."""


def _ref(entity: dict[str, t.Any], name_key: str = "Name") -> dict[str, str]:
    return {"value": str(entity["Id"]), "name": str(entity.get(name_key, ""))}


@dataclass(order=True)
class _Event:
    """One dated thing to do; events are replayed in date order so Ids follow dates."""

    when: dt.date
    seq: int
    kind: str = field(compare=False)
    data: dict[str, t.Any] = field(compare=False, default_factory=dict)


class _Seeder:
    """Plans a company's history, then replays it through the store."""

    def __init__(self, emu: Emulator, realm: str, rng: random.Random, catalogue: str) -> None:
        self.store = emu.store
        self.clock = emu.clock
        self.realm = realm
        self.rng = rng
        self.items = _CATALOGUES[catalogue]
        self.today = emu.clock.now().date()
        self.events: list[_Event] = []
        self.created: dict[int, dict[str, t.Any]] = {}
        self.voided_receipt = False
        self.terms = [x for x in self.store.list(realm, "Term") if x.get("Active", True)]
        self.methods = [x for x in self.store.list(realm, "PaymentMethod") if x.get("Active", True)]

    # -- customers ----------------------------------------------------------

    def create_customer(self, profile: _Profile) -> dict[str, t.Any]:
        body = dict(profile.body)
        if profile.extra["term"] and self.terms:
            body["SalesTermRef"] = _ref(self.rng.choice(self.terms))
        if profile.extra["method"] and self.methods:
            body["PaymentMethodRef"] = _ref(self.rng.choice(self.methods))
        if profile.extra["delivery"]:
            body["PreferredDeliveryMethod"] = profile.extra["delivery"]
        return t.cast("dict[str, t.Any]", self.store.create(self.realm, "Customer", body))

    def create_job(self, parent: dict[str, t.Any]) -> dict[str, t.Any]:
        """A sub-customer (project) billed with its parent."""
        body = {
            "DisplayName": f"{parent.get('FamilyName', 'Main')} backyard remodel",
            "Job": True,
            "BillWithParent": True,
            "ParentRef": {"value": str(parent["Id"])},
        }
        for name in ("GivenName", "FamilyName", "CompanyName", "PrimaryEmailAddr", "BillAddr"):
            if parent.get(name):
                body[name] = parent[name]
        return t.cast("dict[str, t.Any]", self.store.create(self.realm, "Customer", body))

    def deactivate(self, customer: dict[str, t.Any]) -> None:
        current = self.store.read(self.realm, "Customer", customer["Id"])
        self.store.update(
            self.realm,
            "Customer",
            {"Id": current["Id"], "SyncToken": current["SyncToken"], "Active": False},
            sparse=True,
        )

    def backdate(self, customers: list[dict[str, t.Any]], years: int) -> None:
        """Set each customer's ``MetaData.CreateTime`` to a day before its first document.

        The store stamps ``CreateTime`` with the clock at creation, so without
        this every seeded customer would be a customer "since today" while its
        invoices go back years.  The store has no operation for writing
        ``MetaData`` (neither has QBO), so the record is changed in place under
        the store's lock, as :func:`load` does.  The lead time is derived from
        the id rather than drawn from ``rng``, so the rest of the seeded data
        (and :data:`DEMO_CUSTOMER_EMAILS`) stays exactly as before.  A job is
        never older than its parent.
        """
        first: dict[str, dt.date] = {}
        for event in self.events:
            owner = event.data.get("customer")
            if owner is not None:
                key = str(owner["Id"])
                first[key] = min(first.get(key, event.when), event.when)
        fallback = self.today - dt.timedelta(days=365 * years)
        created: dict[str, dt.date] = {}
        with self.store.lock:
            table = self.store.company(self.realm).table("Customer")
            for customer in customers:
                key = str(customer["Id"])
                start = first.get(key, fallback)
                since = start - dt.timedelta(days=14 + (int(key) * 37) % 90)
                parent = (customer.get("ParentRef") or {}).get("value")
                if parent in created:
                    since = min(max(since, created[parent] + dt.timedelta(days=1)), start - dt.timedelta(days=1))
                created[key] = since
                stamp = dt.datetime.combine(
                    since, dt.time(9 + int(key) % 8, (int(key) * 13) % 60), tzinfo=self.clock.tz
                )
                table[key].setdefault("MetaData", {})["CreateTime"] = self.clock.iso(stamp)

    # -- planning -----------------------------------------------------------

    def _event(self, when: dt.date, kind: str, **data: t.Any) -> int:
        seq = len(self.events)
        self.events.append(_Event(when, seq, kind, data))
        return seq

    def _lines(self, low: float = 1.0, high: float = 1.0) -> list[dict[str, t.Any]]:
        lines = []
        for _ in range(self.rng.choice((1, 1, 1, 2, 2, 3))):
            description, lo, hi = self.rng.choice(self.items)
            amount = _money(self.rng.uniform(lo, hi) * self.rng.uniform(low, high))
            lines.append(
                {
                    "Amount": amount,
                    "DetailType": "SalesItemLineDetail",
                    "Description": description,
                    "SalesItemLineDetail": {},
                }
            )
        return lines

    def _day(self, start: dt.date, end: dt.date) -> dt.date:
        span = max((end - start).days, 0)
        return start + dt.timedelta(days=self.rng.randint(0, span))

    def plan_customer(self, customer: dict[str, t.Any], years: int, count: int, estimate_cycle: list[str]) -> None:
        """Plan ``count`` documents for one customer over the last ``years`` years."""
        start = self.today - dt.timedelta(days=365 * years)
        yesterday = self.today - dt.timedelta(days=1)
        term = customer.get("SalesTermRef")
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
                        ESTIMATE_STATUSES, weights=[_ESTIMATE_WEIGHTS.get(s, 10) for s in ESTIMATE_STATUSES]
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
        customer: dict[str, t.Any],
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

    def _customer_ref(self, customer: dict[str, t.Any]) -> dict[str, str]:
        return _ref(customer, "DisplayName")

    def _method(self, customer: dict[str, t.Any]) -> dict[str, str] | None:
        if customer.get("PaymentMethodRef"):
            return t.cast("dict[str, str]", customer["PaymentMethodRef"])
        return _ref(self.rng.choice(self.methods)) if self.methods else None

    def replay(self) -> None:
        """Create every planned document in date order."""
        for event in sorted(self.events):
            handler = getattr(self, f"_do_{event.kind.lower()}")
            result = handler(event)
            if result is not None:
                self.created[event.seq] = result

    def _base(self, event: _Event) -> dict[str, t.Any]:
        return {
            "TxnDate": event.when.isoformat(),
            "CustomerRef": self._customer_ref(event.data["customer"]),
        }

    def _do_invoice(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["DueDate"] = event.data["due"].isoformat()
        body["Line"] = self._lines()
        if event.data["term"]:
            body["SalesTermRef"] = event.data["term"]
        email = event.data["customer"].get("PrimaryEmailAddr")
        if email:
            body["BillEmail"] = dict(email)
        return self.store.create(self.realm, "Invoice", body)

    def _do_payment(self, event: _Event) -> dict[str, t.Any]:
        invoice = self.store.read(self.realm, "Invoice", self.created[event.data["target"]]["Id"])
        amount = _money(Decimal(str(invoice["Balance"])) * Decimal(str(event.data["share"])))
        body: dict[str, t.Any] = {
            "TxnDate": event.when.isoformat(),
            "CustomerRef": self._customer_ref(event.data["customer"]),
            "TotalAmt": amount,
            "PaymentRefNum": str(self.rng.randint(1000, 9999)),
            "Line": [
                {
                    "Amount": amount,
                    "LinkedTxn": [{"TxnId": str(invoice["Id"]), "TxnType": "Invoice"}],
                }
            ],
        }
        method = self._method(event.data["customer"])
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
            customer = event.data["customer"]
            body["AcceptedBy"] = f"{customer.get('GivenName', '')} {customer.get('FamilyName', '')}".strip()
            latest = min(self.today - dt.timedelta(days=1), event.when + dt.timedelta(days=14))
            body["AcceptedDate"] = self._day(event.when, latest).isoformat()
        return self.store.create(self.realm, "Estimate", body)

    def _do_salesreceipt(self, event: _Event) -> dict[str, t.Any]:
        body = self._base(event)
        body["Line"] = self._lines(0.3, 0.8)
        method = self._method(event.data["customer"])
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
        method = self._method(event.data["customer"])
        if method:
            body["PaymentMethodRef"] = method
        return self.store.create(self.realm, "RefundReceipt", body)


@contextlib.contextmanager
def _silenced(emu: Emulator) -> t.Iterator[None]:
    """Detach the store's change listeners (webhooks) while seeding.

    Seeded data stands for a company's past, so it must not reach a webhook
    listener as hundreds of fresh Create events. The change log still records
    every write, so CDC sees the seeded entities just as it sees real history.
    """
    store = emu.store
    with store.lock:
        saved = list(store.listeners)
        store.listeners.clear()
    try:
        yield
    finally:
        with store.lock:
            store.listeners[:0] = saved


def seed_company(
    emu: Emulator,
    realm_id: str = DEMO_REALM,
    name: str = "Sandbox Company_US_1",
    seed: int = DEMO_SEED,
    customers: int = 30,
    years: int = 2,
    txns_per_customer: int = 10,
    catalogue: str = "landscaping",
) -> None:
    """Create (if needed) and populate one company with customers and their history.

    ``customers`` customers are created, the first of them gets a sub-customer
    (a job) and the last one is made inactive; every other customer gets
    roughly ``txns_per_customer`` documents (plus the payments that settle
    invoices) dated within the last ``years`` years. ``catalogue`` picks the
    product lines ("landscaping" or "trading").
    """
    if catalogue not in _CATALOGUES:
        raise ValueError(f"unknown catalogue {catalogue!r}; choose from {sorted(_CATALOGUES)}")
    rng = random.Random(seed)
    profiles = _customer_profiles(rng, customers)
    if realm_id not in {realm for realm, _name in emu.store.companies()}:
        emu.add_company(realm_id, name)
    with _silenced(emu):
        seeder = _Seeder(emu, realm_id, rng, catalogue)
        top_level = [seeder.create_customer(profile) for profile in profiles]
        estimate_cycle = list(ESTIMATE_STATUSES) * 2
        for profile, customer in zip(profiles, top_level):
            if not profile.inactive:
                count = max(1, round(txns_per_customer * rng.uniform(0.5, 1.5)))
                seeder.plan_customer(customer, years, count, estimate_cycle)
        jobs = []
        if top_level:
            jobs.append(seeder.create_job(top_level[0]))
            seeder.plan_customer(jobs[0], 1, max(1, txns_per_customer // 3), [])
        seeder.replay()
        for profile, customer in zip(profiles, top_level):
            if profile.inactive:
                seeder.deactivate(customer)
        seeder.backdate(top_level + jobs, years)


def seed_demo(emu: Emulator, seed: int = DEMO_SEED) -> None:
    """Seed the two demo companies used by the demo CRM, tests and docs.

    With the default ``seed`` the demo company's customers carry
    :data:`DEMO_CUSTOMER_EMAILS`.
    """
    seed_company(emu, DEMO_REALM, DEMO_COMPANY_NAME, seed=seed, customers=30, years=2)
    seed_company(
        emu,
        SECOND_REALM,
        SECOND_COMPANY_NAME,
        seed=seed + 1,
        customers=12,
        years=1,
        txns_per_customer=6,
        catalogue="trading",
    )


SNAPSHOT_FORMAT = "flask-qbo-emulator"
SNAPSHOT_VERSION = 1


def save(emu: Emulator, path: str | os.PathLike[str]) -> None:
    """Write every company of ``emu`` to ``path`` as JSON (atomically).

    The store offers no dump of its own, so this serialises each
    :class:`~flask_qbo.emulator.store.Company` as it is: the entity tables
    (including the store's private ``_``-prefixed bookkeeping such as opening
    balances and void marks), the id and document-number sequences, the
    tombstones of deleted objects and the change log. Re-creating objects
    through ``store.create`` instead would renumber ids, reset SyncTokens and
    lose deletions, which would break every CRM link made before a restart.
    """
    store = emu.store
    with store.lock:
        companies = []
        for realm, name in store.companies():
            company = store.company(realm)
            companies.append(
                {
                    "realm": realm,
                    "name": name,
                    "tables": company.tables,
                    "next_ids": company.next_ids,
                    "doc_numbers": company.doc_numbers,
                    "tombstones": [
                        [entity, entity_id, when] for (entity, entity_id), when in company.tombstones.items()
                    ],
                    "changes": [
                        [change.when.isoformat(), change.entity, change.entity_id] for change in company.changes
                    ],
                }
            )
        text = json.dumps(
            {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION, "companies": companies},
            indent=1,
            sort_keys=True,
        )
    target = os.fspath(path)
    temporary = f"{target}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, target)


def load(emu: Emulator, path: str | os.PathLike[str]) -> None:
    """Replace the companies named in ``path`` (written by :func:`save`).

    Companies missing from ``emu`` are added first; loading fires no webhooks,
    because nothing changed from a client's point of view.
    """
    with open(os.fspath(path), encoding="utf-8") as handle:
        data = json.load(handle)
    if data.get("format") != SNAPSHOT_FORMAT or data.get("version") != SNAPSHOT_VERSION:
        raise ValueError(f"{os.fspath(path)} is not a flask-qbo emulator snapshot (version {SNAPSHOT_VERSION})")
    store = emu.store
    for entry in data["companies"]:
        realm = str(entry["realm"])
        if not store.has_company(realm):
            emu.add_company(realm, entry["name"])
        with store.lock:
            company = store.company(realm)
            company.name = entry["name"]
            company.tables = {name: {} for name in ENTITIES}
            for name, rows in entry["tables"].items():
                if name in company.tables:
                    company.tables[name] = {str(key): value for key, value in rows.items()}
            company.next_ids = {str(k): int(v) for k, v in entry["next_ids"].items()}
            company.doc_numbers = {str(k): int(v) for k, v in entry["doc_numbers"].items()}
            company.tombstones = {(entity, entity_id): when for entity, entity_id, when in entry["tombstones"]}
            company.changes = [
                Change(dt.datetime.fromisoformat(when), entity, entity_id)
                for when, entity, entity_id in entry["changes"]
            ]
