"""Deterministic demo companies for the QBO emulator.

:func:`seed_company` fills one company with customers (a job, an inactive
customer) and a few years of invoices, payments, estimates, receipts and
credits; :func:`seed_demo` builds the two companies the demo CRM, the tests
and the docs use. Only the random choices are ours, and they come from
``random.Random(seed)``: the same seed always yields the same names, amounts
and outcomes. Dates are placed relative to ``emu.clock.now()`` so the data
always looks current (invoices are overdue "now", not in some fixed year),
and it is history in every respect: the company opened before its first
customer, each record's ``MetaData`` and change-log entry carry the moment
it stands for, so a CDC "since yesterday" on a fresh emulator answers only
what the seeded history did yesterday.

The material (names, places, product lines) is :mod:`.data`; planning and
replaying a company's history through the store is :mod:`.history`.

Webhooks: seeding creates hundreds of entities and must not flood a listener,
so the store's change listeners are detached while a company is seeded (the
change log, and so a CDC reaching back far enough, still sees everything).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import typing as t

from ..entities import ESTIMATE_STATUSES
from ..settings import CompanySettings
from .data import CATALOGUES
from .data import PLACES_BY_COUNTRY
from .data import customer_profiles
from .history import Seeder
from .history import opening_day
from .products import seed_items

if t.TYPE_CHECKING:
    from ..app import Emulator

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


DEMO_CUSTOMER_EMAILS: list[str] = [p.email for p in customer_profiles(random.Random(DEMO_SEED), 30)[:6]]
"""Emails of a few active demo customers, for a demo CRM's matching contacts."""


#: What :func:`~flask_qbo.emulator.defaults.fill_new_company` puts in a new company.
OPENED_WITH = ("CompanyInfo", "Preferences", "Term", "PaymentMethod", "Account", "Item", "TaxCode", "TaxRate")


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


def _open_earlier(emu: Emulator, realm: str, moment: dt.datetime) -> None:
    """Move an existing company's opening back to ``moment`` if it opened later.

    A company created "now" and then seeded would otherwise have two years of
    history before its ``CompanyStartDate``. Its CompanyInfo and the default
    lists created with it (the rows of :data:`OPENED_WITH` stamped with the
    company's own creation time) move back with it; an earlier
    ``CompanyStartDate`` is left alone.
    """
    with emu.store.lock:
        company = emu.store.company(realm)
        info = company.table("CompanyInfo")[realm]
        if str(info["CompanyStartDate"]) <= moment.date().isoformat():
            return
        opened = info["MetaData"]["CreateTime"]
        stamp = emu.clock.iso(moment)
        for entity in OPENED_WITH:
            for row in company.table(entity).values():
                meta = row.get("MetaData") or {}
                if meta.get("CreateTime") == opened:
                    meta["CreateTime"] = stamp
                    if meta.get("LastUpdatedTime") == opened:
                        meta["LastUpdatedTime"] = stamp
        info["CompanyStartDate"] = moment.date().isoformat()


def seed_company(
    emu: Emulator,
    realm_id: str = DEMO_REALM,
    name: str = "Sandbox Company_US_1",
    seed: int = DEMO_SEED,
    customers: int = 30,
    years: int = 2,
    txns_per_customer: int = 10,
    catalogue: str = "landscaping",
    settings: CompanySettings | None = None,
) -> None:
    """Create (if needed) and populate one company with customers and their history.

    ``customers`` customers are created, the first of them gets a sub-customer
    (a job) and the last one is made inactive; every other customer gets
    roughly ``txns_per_customer`` documents (plus the payments that settle
    invoices) dated within the last ``years`` years. ``catalogue`` picks the
    product lines ("landscaping" or "trading") and the items its lines use
    (:mod:`.products`); ``settings`` (country, sales tax ...) apply to a
    company created here, whose customers live in its country. A company created here opens
    (``CompanyStartDate``, its default lists' ``MetaData``) before its first
    customer; an existing company that opened later than that is moved back
    to it, so its history never predates it.
    """
    if catalogue not in CATALOGUES:
        raise ValueError(f"unknown catalogue {catalogue!r}; choose from {sorted(CATALOGUES)}")
    rng = random.Random(seed)
    opening = opening_day(emu.clock.now().date(), years)
    moment = dt.datetime.combine(opening, dt.time(8), tzinfo=emu.clock.tz)
    if realm_id not in {realm for realm, _name in emu.store.companies()}:
        with emu.clock.pinned(moment):
            emu.add_company(realm_id, name, settings)
    else:
        _open_earlier(emu, realm_id, moment)
    country = emu.store.company(realm_id).country()
    if country not in PLACES_BY_COUNTRY:
        raise ValueError(f"the seed has no customers for a company in {country}")
    profiles = customer_profiles(rng, customers, PLACES_BY_COUNTRY[country])
    with _silenced(emu):
        with emu.clock.pinned(moment):
            seed_items(emu, realm_id, catalogue)
        seeder = Seeder(emu, realm_id, rng, catalogue)
        planned = [seeder.add_customer(profile) for profile in profiles]
        estimate_cycle = list(ESTIMATE_STATUSES) * 2
        for profile, customer in zip(profiles, planned):
            if not profile.inactive:
                count = max(1, round(txns_per_customer * rng.uniform(0.5, 1.5)))
                seeder.plan_customer(customer, years, count, estimate_cycle)
        if planned:
            job = seeder.add_job(planned[0])
            seeder.plan_customer(job, 1, max(1, txns_per_customer // 3), [])
        seeder.replay(years, {customer for profile, customer in zip(profiles, planned) if profile.inactive})


def seed_demo(emu: Emulator, seed: int = DEMO_SEED) -> None:
    """Seed the two demo companies used by the demo CRM, tests and docs.

    The demo company is in the US with automated sales tax and online payments
    (``ETransactionPaymentEnabled``) on; the second is
    Canadian (CAD, GST/HST tax codes). With the default ``seed`` the demo
    company's customers carry :data:`DEMO_CUSTOMER_EMAILS`.
    """
    seed_company(
        emu,
        DEMO_REALM,
        DEMO_COMPANY_NAME,
        seed=seed,
        customers=30,
        years=2,
        settings=CompanySettings(sales_tax=True, online_payments=True),
    )
    seed_company(
        emu,
        SECOND_REALM,
        SECOND_COMPANY_NAME,
        seed=seed + 1,
        customers=12,
        years=1,
        txns_per_customer=6,
        catalogue="trading",
        settings=CompanySettings(country="CA"),
    )
