"""The reference-data mirror: items, tax codes and rates, and the preferences snapshot of a company."""

from __future__ import annotations

import datetime as dt
import typing as t
from decimal import Decimal

import pytest

from flask_qbo.billing import reference
from flask_qbo.billing import reference_parse as parse
from flask_qbo.errors import QBOAPIError
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import CompanyPrefs
from flask_qbo.models import Connection
from flask_qbo.models import ConnectionStatus
from flask_qbo.models import Item
from flask_qbo.models import TaxCode
from flask_qbo.models import TaxRate
from flask_qbo.models import utcnow
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import connect_tenant
from tests.billing.reference_support import AST_PREFERENCES
from tests.billing.reference_support import CA_PREFERENCES
from tests.billing.reference_support import US_TAX_CODES
from tests.billing.reference_support import US_TAX_RATES
from tests.billing.reference_support import change_item
from tests.billing.reference_support import emulator_lists
from tests.hostapp import db

R = TEST_REALM


@pytest.fixture
def tax_lists(emulator: t.Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, t.Any]]]:
    """The company's tax codes and rates: the emulator's own once it lists them, else Intuit-shaped payloads.

    Returned lists are what a test may change to make QBO's answer change.
    """
    lists = {"TaxCode": [dict(code) for code in US_TAX_CODES], "TaxRate": [dict(rate) for rate in US_TAX_RATES]}
    if all(emulator_lists(emulator, entity) for entity in lists):
        return {}
    real_query = QBOClient.query

    def query(self: QBOClient, stmt: str, **kwargs: t.Any) -> t.Iterator[dict[str, t.Any]]:
        for entity, rows in lists.items():
            if stmt == f"SELECT * FROM {entity}":
                return iter([dict(row) for row in rows])
        return real_query(self, stmt, **kwargs)

    monkeypatch.setattr(QBOClient, "query", query)
    return lists


def refresh(app: t.Any, tenant: str = "acme") -> reference.ReferenceRead:
    with app.app_context():
        qbo = get_qbo(app)
        return reference.refresh_reference(qbo, qbo.connection(tenant))


def test_refresh_reads_items_tax_lists_prefs_and_country(app, emulator, connected, tax_lists):
    priced = change_item(emulator, Name="Garden design", Sku="GD-1", UnitPrice=75.125, Description="Per hour")
    gone = change_item(emulator, Name="Old service", Active=False)
    found = refresh(app)
    assert (found.items, found.tax_model) == (3, "none")
    with app.app_context():
        items = {row.qbo_id: row for row in db.session.query(Item).filter_by(realm_id=R)}
        assert items["1"].name == "Services" and items["1"].income_account_id == "1" and items["1"].sellable
        design = items[priced["Id"]]
        assert (design.sku, design.unit_price, design.type, design.description) == (
            "GD-1",
            Decimal("75.125"),
            "Service",
            "Per hour",
        )
        assert items[gone["Id"]].active is False  # inactive items are read too
        prefs = db.session.query(CompanyPrefs).filter_by(realm_id=R).one()
        assert (prefs.country, prefs.home_currency, prefs.multi_currency, prefs.tax_model) == (
            "US",
            "USD",
            False,
            "none",
        )
        assert (prefs.allow_estimates, prefs.custom_txn_numbers, prefs.default_terms_id) == (True, False, "3")
        assert prefs.reference_read_at is not None and prefs.fetched_at is not None
        assert db.session.query(TaxCode).filter_by(realm_id=R).count() == found.tax_codes > 0


def test_tax_codes_and_rates_are_stored_with_their_rates_in_order(app, emulator, connected, tax_lists):
    if not tax_lists:
        pytest.skip("the emulator lists its own tax codes; the payload shapes are checked in the parse tests")
    refresh(app)
    with app.app_context():
        codes = {row.qbo_id: row for row in db.session.query(TaxCode).filter_by(realm_id=R)}
        assert set(codes) == {"TAX", "NON", "2"}
        assert codes["NON"].taxable is False and codes["TAX"].taxable is True
        assert codes["2"].tax_group and codes["2"].sales_rates == [
            {"rate_id": "3", "order": 0, "applies_to": "TaxOnAmount"},
            {"rate_id": "4", "order": 1, "applies_to": "TaxOnAmount"},
        ]
        rates = {row.qbo_id: row for row in db.session.query(TaxRate).filter_by(realm_id=R)}
        assert (rates["3"].rate_value, rates["4"].rate_value, rates["3"].agency_id) == (
            Decimal("7.2500"),
            Decimal("1.0000"),
            "1",
        )
    # A code QBO stops listing stays, inactive; a changed rate is replaced.
    tax_lists["TaxCode"][:] = [code for code in tax_lists["TaxCode"] if code["Id"] != "2"]
    tax_lists["TaxRate"][0] = {**tax_lists["TaxRate"][0], "RateValue": 7.5}
    refresh(app)
    with app.app_context():
        assert db.session.query(TaxCode).filter_by(realm_id=R, qbo_id="2").one().active is False
        assert db.session.query(TaxRate).filter_by(realm_id=R, qbo_id="3").one().rate_value == Decimal("7.5000")


def test_a_second_read_updates_in_place_and_inactivates_items_qbo_dropped(app, emulator, connected, tax_lists):
    item = change_item(emulator, Name="Pruning", UnitPrice=40)
    refresh(app)
    change_item(emulator, item["Id"], UnitPrice=45)
    del emulator.store.company(R).tables["Item"]["1"]  # gone from QBO's answer (never happens for real: merged away)
    refresh(app)
    with app.app_context():
        rows = {row.qbo_id: row for row in db.session.query(Item).filter_by(realm_id=R)}
        assert len(rows) == 2 and db.session.query(CompanyPrefs).count() == 1
        assert rows[item["Id"]].unit_price == Decimal("45") and rows[item["Id"]].sync_token == "1"
        assert rows["1"].active is False


def test_an_item_a_webhook_mirrors_during_the_read_stays_active(
    app, emulator, connected, tax_lists, monkeypatch: pytest.MonkeyPatch
):
    """The items page was read before the item existed; its webhook mirrored it before the read stored."""
    from flask_qbo.sync.pull import items as pull_items

    refresh(app)
    real = QBOClient.preferences
    made: list[dict[str, t.Any]] = []

    def webhook_meanwhile(self: QBOClient) -> dict[str, t.Any]:
        made.append(change_item(emulator, Name="Brand new"))
        pull_items.upsert_items(db.session, R, made)  # the webhook's pull, committed before the read stores
        db.session.commit()
        return real(self)

    monkeypatch.setattr(QBOClient, "preferences", webhook_meanwhile)
    refresh(app)
    with app.app_context():
        row = db.session.query(Item).filter_by(realm_id=R, qbo_id=made[0]["Id"]).one()
        assert row.active is True
        assert db.session.query(Item).filter_by(realm_id=R, qbo_id="1").one().active is True


@pytest.mark.parametrize(
    ("prefs", "country", "model"),
    [
        (AST_PREFERENCES, "US", "us_ast"),
        ({"TaxPrefs": {"UsingSalesTax": True}}, "US", "us_manual"),  # a pre-AST US company: TAX/NON, rate named
        ({"TaxPrefs": {"UsingSalesTax": False, "PartnerTaxEnabled": False}}, "US", "none"),
        (CA_PREFERENCES, "CA", "per_line"),
        ({"TaxPrefs": {"UsingSalesTax": False}}, "GB", "none"),
        ({}, None, "none"),
    ],
)
def test_the_tax_model(prefs, country, model):
    assert parse.tax_model(prefs, country) == model


def test_preferences_columns_of_a_canadian_company():
    columns = parse.prefs_columns(CA_PREFERENCES, {"Country": "CA"})
    assert columns["country"] == "CA" and columns["tax_model"] == "per_line"
    assert (columns["home_currency"], columns["multi_currency"]) == ("CAD", True)
    assert (columns["custom_txn_numbers"], columns["allow_discount"], columns["online_payments"]) == (True, False, True)
    assert (columns["default_tax_code_id"], columns["default_terms_id"]) == ("5", "2")


@pytest.mark.parametrize(("raw", "code"), [("US", "US"), ("USA", "US"), ("gb", "GB"), ("Canada", "CA"), ("", None)])
def test_country_spellings(raw, code):
    assert parse.country_code({"Country": raw}) == code


def test_untrusted_numbers_are_refused_or_rounded_half_up():
    assert parse.percent("8.12345") == Decimal("8.1235") and parse.percent(101) is None and parse.percent("x") is None
    assert parse.percent(True) is None and parse.percent("NaN") is None
    rates = parse.sales_rates({"SalesTaxRateList": {"TaxRateDetail": [{"TaxOrder": 1}, "junk", {"TaxRateRef": "9"}]}})
    assert rates == [{"rate_id": "9", "order": 0, "applies_to": None}]


def test_refresh_due_reads_a_new_connection_once_a_day_and_again_when_asked(app, emulator, connected, tax_lists):
    calls: list[str] = []
    with app.app_context():
        qbo = get_qbo(app)
        original = reference.refresh_reference

        def counted(qbo: t.Any, conn: Connection) -> reference.ReferenceRead:
            calls.append(conn.tenant_key)
            return original(qbo, conn)

        reference.refresh_reference = counted  # type: ignore[assignment]
        try:
            assert reference.refresh_due(qbo) == 1  # just connected: no preferences row yet
            assert reference.refresh_due(qbo) == 0
            prefs = db.session.query(CompanyPrefs).one()
            prefs.reference_read_at = utcnow() - reference.REFRESH_AFTER - dt.timedelta(minutes=1)
            db.session.commit()
            assert reference.refresh_due(qbo) == 1  # a day old
            reference.mark_due(db.session, R)
            db.session.commit()
            assert reference.refresh_due(qbo) == 1  # asked for
            db.session.query(Connection).one().status = ConnectionStatus.NEEDS_RECONNECT
            reference.mark_due(db.session, R)
            db.session.commit()
            assert reference.refresh_due(qbo) == 0  # only connected companies are read
        finally:
            reference.refresh_reference = original  # type: ignore[assignment]
    assert calls == ["acme", "acme", "acme"]


def test_a_failing_company_rests_and_does_not_stop_the_others(app, emulator, connected, tax_lists, monkeypatch):
    emulator.add_company("9130350000000002", "Second Co")
    connect_tenant(app, emulator, "beta", "9130350000000002")
    real = QBOClient.preferences

    def broken(self: QBOClient) -> dict[str, t.Any]:
        if self.realm_id == R:
            raise RuntimeError("QuickBooks is down")
        return real(self)

    monkeypatch.setattr(QBOClient, "preferences", broken)
    with app.app_context():
        qbo = get_qbo(app)
        assert reference.refresh_due(qbo) == 1
        assert reference.refresh_due(qbo) == 0  # the failed company rests instead of being hammered
        assert [p.realm_id for p in db.session.query(CompanyPrefs)] == ["9130350000000002"]
    monkeypatch.setattr(reference, "RETRY_AFTER", 0.0)
    monkeypatch.setattr(QBOClient, "preferences", real)
    with app.app_context():
        assert reference.refresh_due(get_qbo(app)) == 1


def test_cli_reference_refreshes_now(app, emulator, connected, tax_lists):
    result = app.test_cli_runner().invoke(args=["qbo", "reference"])
    assert result.exit_code == 0, result.output
    assert "tenant acme: realm" in result.output and "tax model none" in result.output
    with app.app_context():
        assert db.session.query(CompanyPrefs).filter_by(realm_id=R).one().reference_read_at is not None
    refused = app.test_cli_runner().invoke(args=["qbo", "reference", "--tenant", "nobody"])
    assert refused.exit_code != 0 and "No connected tenant named nobody" in refused.output


def test_cli_reference_names_the_company_it_could_not_read(app, emulator, connected, tax_lists, monkeypatch):
    emulator.add_company("9130350000000002", "Second Co")
    connect_tenant(app, emulator, "beta", "9130350000000002")

    def refused(self: QBOClient) -> dict[str, t.Any]:
        if self.realm_id == R:
            raise QBOAPIError("QuickBooks is down", status=503)
        return real(self)

    real = QBOClient.preferences
    monkeypatch.setattr(QBOClient, "preferences", refused)
    result = app.test_cli_runner().invoke(args=["qbo", "reference"])
    assert result.exit_code != 0
    assert "tenant acme: not read: QBOAPIError" in result.output and "tenant beta: realm" in result.output
    assert "Reference data not read for acme." in result.output


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"country": "CA", "online_payments": True}, ("CA", "CAD", "per_line", True)),
        ({"country": "US", "sales_tax": True}, ("US", "USD", "us_ast", False)),
    ],
)
def test_the_emulators_other_companies(app, emulator, settings, expected):
    """A Canadian company and a US one on automated sales tax, as the emulator models them."""
    company_settings = pytest.importorskip("flask_qbo.emulator.settings", reason="the emulator's company settings")
    realm = "9130350000000077"
    emulator.add_company(realm, "Elsewhere Ltd", company_settings.CompanySettings(**settings))
    connect_tenant(app, emulator, "elsewhere", realm)
    refresh(app, "elsewhere")
    with app.app_context():
        prefs = db.session.query(CompanyPrefs).filter_by(realm_id=realm).one()
        assert (prefs.country, prefs.home_currency, prefs.tax_model, prefs.online_payments) == expected
        codes = db.session.query(TaxCode).filter_by(realm_id=realm).all()
        assert codes and all(code.name for code in codes)
        if expected[2] == "per_line":
            rated = [code for code in codes if code.sales_rates]
            rate_ids = {rate["rate_id"] for code in rated for rate in code.sales_rates}
            stored = {row.qbo_id for row in db.session.query(TaxRate).filter_by(realm_id=realm)}
            assert rated and rate_ids <= stored  # every code's rates were read too
