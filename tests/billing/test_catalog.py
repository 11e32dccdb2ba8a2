"""The catalog read from the realm's mirror, and the item search."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from flask_qbo.billing.catalog import Catalog
from flask_qbo.billing.catalog import Prefs
from flask_qbo.billing.catalog import search_items
from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Item
from flask_qbo.models import RefItem
from flask_qbo.models import TaxCode
from flask_qbo.models import TaxRate
from flask_qbo.models import metadata
from flask_qbo.testing import TEST_REALM

OTHER = "9999"


def fill(session: Session) -> None:
    """Items, rates, codes and terms of TEST_REALM (and one item of another realm)."""

    def item(qbo_id: str, name: str, **fields: object) -> Item:
        return Item(realm_id=fields.pop("realm_id", TEST_REALM), qbo_id=qbo_id, name=name, **fields)

    session.add_all(
        [
            item("1", "Design", type="Service", sku="DES-1", unit_price=Decimal("75"), description="Garden plans"),
            item("2", "gravel", type="NonInventory", sku="GR_10"),
            item("3", "Hose", type="Inventory", active=False),
            item("4", "Garden", type="Category"),
            item("5", "100% cotton", type="Service", description="Bags"),
            item("6", "Zinc", type=None, description="50_50 mix"),
            item("7", "Garden kit", type="Group", unit_price=Decimal("300")),
            item("1", "Not ours", realm_id=OTHER),
            TaxRate(realm_id=TEST_REALM, qbo_id="10", name="GST", rate_value=Decimal("5")),
            TaxRate(realm_id=TEST_REALM, qbo_id="11", name="PST", rate_value=Decimal("7")),
            TaxCode(
                realm_id=TEST_REALM,
                qbo_id="7",
                name="GST/PST",
                sales_rates=[
                    {"rate_id": "11", "order": 1, "applies_to": "TaxOnAmountPlusTax"},
                    {"rate_id": "10", "order": 0, "applies_to": "TaxOnAmount"},
                    {"rate_id": "99"},
                ],
            ),
            TaxCode(realm_id=TEST_REALM, qbo_id="8", name="Hidden", hidden=True),
            RefItem(realm_id=TEST_REALM, kind="Term", qbo_id="3", name="Net 30"),
            RefItem(realm_id=TEST_REALM, kind="Term", qbo_id="2", name="Due on receipt"),
            RefItem(realm_id=TEST_REALM, kind="Term", qbo_id="4", name="Old", active=False),
            RefItem(realm_id=TEST_REALM, kind="PaymentMethod", qbo_id="1", name="Cash"),
        ]
    )
    session.commit()


@pytest.fixture
def mirror(session: Session) -> Session:
    fill(session)
    return session


def test_load_reads_the_realms_mirror(mirror: Session) -> None:
    catalog = Catalog.load(mirror, TEST_REALM)
    assert sorted(catalog.items) == ["1", "2", "3", "4", "5", "6", "7"]
    assert catalog.items["1"].name == "Design" and catalog.items["1"].unit_price == Decimal("75")
    assert not catalog.items["3"].active
    assert [item.name for item in catalog.sellable_items] == ["100% cotton", "Design", "gravel", "Zinc"]
    code = catalog.tax_codes["7"]
    assert [(rate.name, rate.percent, rate.applies_to) for rate in code.rates] == [
        ("GST", Decimal("5"), "TaxOnAmount"),
        ("PST", Decimal("7"), "TaxOnAmountPlusTax"),
    ]
    assert not catalog.tax_codes["8"].active  # hidden codes are not offered
    assert [code.qbo_id for code in catalog.active_tax_codes] == ["7"]
    assert [(term.qbo_id, term.name) for term in catalog.terms] == [("2", "Due on receipt"), ("3", "Net 30")]
    assert catalog.term_name("3") == "Net 30" and catalog.term_name("4") is None
    assert catalog.prefs == Prefs()  # no preferences row: QBO's defaults


def test_defaults_when_nothing_was_read(session: Session) -> None:
    catalog = Catalog.load(session, TEST_REALM)
    assert catalog.items == {} and catalog.tax_codes == {} and catalog.terms == ()
    prefs = catalog.prefs
    assert prefs.tax_model == "none" and prefs.home_currency is None
    assert (prefs.multi_currency, prefs.custom_txn_numbers, prefs.online_payments) == (False, False, False)
    assert (prefs.allow_estimates, prefs.allow_discount) == (True, True)


def test_preferences_row(session: Session) -> None:
    session.add(
        CompanyPrefs(
            realm_id=TEST_REALM,
            country="CA",
            home_currency="CAD",
            multi_currency=True,
            custom_txn_numbers=True,
            allow_estimates=False,
            allow_discount=False,
            online_payments=True,
            tax_model="per_line",
            default_tax_code_id="7",
            default_terms_id="3",
        )
    )
    session.commit()
    assert Catalog.load(session, TEST_REALM).prefs == Prefs(
        country="CA",
        home_currency="CAD",
        multi_currency=True,
        custom_txn_numbers=True,
        allow_estimates=False,
        allow_discount=False,
        online_payments=True,
        tax_model="per_line",
        default_tax_code_id="7",
        default_terms_id="3",
    )


def test_us_companies_offer_only_tax_and_non(session: Session) -> None:
    session.add_all(
        [
            CompanyPrefs(realm_id=TEST_REALM, tax_model="us_ast"),
            TaxCode(realm_id=TEST_REALM, qbo_id="TAX", name="TAX"),
            TaxCode(realm_id=TEST_REALM, qbo_id="NON", name="NON", taxable=False),
            TaxCode(realm_id=TEST_REALM, qbo_id="2", name="California"),
        ]
    )
    session.commit()
    assert [code.qbo_id for code in Catalog.load(session, TEST_REALM).active_tax_codes] == ["NON", "TAX"]


SEARCHES = [
    ("", ["100% cotton", "Design", "gravel", "Zinc"]),
    ("GRAV", ["gravel"]),  # any case
    ("des-", ["Design"]),  # sku
    ("plans", ["Design"]),  # description
    ("%", ["100% cotton"]),  # a literal percent, not "anything"
    ("_", ["gravel", "Zinc"]),  # a literal underscore (sku GR_10, description 50_50)
    ("hose", []),  # inactive
    ("garden", ["Design"]),  # neither the category nor the bundle (Group) is offered
    ("Not ours", []),  # another realm
]


@pytest.mark.parametrize(("text", "names"), SEARCHES)
def test_search_items(mirror: Session, text: str, names: list[str]) -> None:
    assert [item.name for item in search_items(mirror, TEST_REALM, text)] == names


def test_search_items_limit(mirror: Session) -> None:
    assert [item.name for item in search_items(mirror, TEST_REALM, "", limit=2)] == ["100% cotton", "Design"]


def test_search_items_on_postgresql(pg: tuple[str, str]) -> None:
    engine = sa.create_engine(pg[0])
    try:
        metadata.create_all(engine)
        with Session(engine) as session:
            fill(session)
            for text, names in SEARCHES:
                assert [item.name for item in search_items(session, TEST_REALM, text)] == names, text
    finally:
        engine.dispose()
