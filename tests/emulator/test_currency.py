"""Multi-currency documents and the exchange-rate table (facts §7)."""

from __future__ import annotations

import pytest

from flask_qbo.emulator.preferences import PREFERENCES_ID


@pytest.fixture
def multi(emulator, realm):
    emulator.store.company(realm).table("Preferences")[PREFERENCES_ID]["CurrencyPrefs"]["MultiCurrencyEnabled"] = True


def line(amount):
    return [{"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]


def test_single_currency_company_carries_the_home_currency(api):
    cust = api.create_customer(DisplayName="Home Only")
    inv = api.create("Invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": line(10)})
    assert inv["CurrencyRef"]["value"] == "USD"
    assert "ExchangeRate" not in inv and "HomeTotalAmt" not in inv


def test_currency_required_and_must_be_the_customers(api, multi):
    euro = api.create_customer(DisplayName="Euro Buyer", CurrencyRef={"value": "EUR"})
    missing = api.post("invoice", {"CustomerRef": {"value": euro["Id"]}, "Line": line(10)})
    assert api.error(missing)["code"] == "2020" and api.error(missing)["element"] == "CurrencyRef"
    wrong = api.post(
        "invoice", {"CustomerRef": {"value": euro["Id"]}, "CurrencyRef": {"value": "GBP"}, "Line": line(10)}
    )
    assert api.error(wrong)["code"] == "6000" and "customer's currency (EUR)" in api.error(wrong)["Detail"]
    unknown = api.post(
        "invoice", {"CustomerRef": {"value": euro["Id"]}, "CurrencyRef": {"value": "XXX"}, "Line": line(1)}
    )
    assert api.error(unknown)["code"] == "2500"


def test_exchange_rate_defaults_to_one_and_home_amounts_follow_the_rate(api, multi):
    euro = api.create_customer(DisplayName="Euro Buyer", CurrencyRef={"value": "EUR"})
    plain = api.create(
        "Invoice", {"CustomerRef": {"value": euro["Id"]}, "CurrencyRef": {"value": "EUR"}, "Line": line(100)}
    )
    assert plain["ExchangeRate"] == 1 and plain["HomeTotalAmt"] == 100 and plain["CurrencyRef"]["name"] == "Euro"
    rated = api.create(
        "Invoice",
        {
            "CustomerRef": {"value": euro["Id"]},
            "CurrencyRef": {"value": "EUR"},
            "ExchangeRate": 1.0805,
            "Line": line(33.33),
        },
    )
    # 33.33 × 1.0805 = 36.013065 → 36.01
    assert rated["HomeTotalAmt"] == 36.01 and rated["HomeBalance"] == 36.01
    api.create(
        "Payment",
        {
            "CustomerRef": {"value": euro["Id"]},
            "CurrencyRef": {"value": "EUR"},
            "ExchangeRate": 1.0805,
            "TotalAmt": 13.33,
            "Line": [{"Amount": 13.33, "LinkedTxn": [{"TxnId": rated["Id"], "TxnType": "Invoice"}]}],
        },
    )
    after = api.get(f"invoice/{rated['Id']}").json()["Invoice"]
    assert after["Balance"] == 20 and after["HomeBalance"] == 21.61  # 20 × 1.0805 = 21.61
    home = api.create_customer(DisplayName="Home Buyer")
    usd = api.create(
        "Invoice",
        {"CustomerRef": {"value": home["Id"]}, "CurrencyRef": {"value": "USD"}, "ExchangeRate": 3, "Line": line(5)},
    )
    assert usd["ExchangeRate"] == 1 and usd["HomeTotalAmt"] == 5


def test_get_exchangerate_and_query(api, emulator):
    resp = api.get("exchangerate", sourcecurrencycode="EUR", asofdate="2026-07-07")
    assert resp.status_code == 200, resp.text
    assert resp.json()["ExchangeRate"] == {
        "SourceCurrencyCode": "EUR",
        "TargetCurrencyCode": "USD",
        "Rate": 1.08,
        "AsOfDate": "2026-07-07",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
    }
    today = api.get("exchangerate", sourcecurrencycode="GBP").json()["ExchangeRate"]
    assert today["AsOfDate"] == emulator.clock.today() and today["Rate"] == 1.27
    assert api.error(api.get("exchangerate"))["code"] == "2020"
    rows = api.query("select * from exchangerate where sourcecurrencycode in ('EUR','INR') and asofdate='2026-07-07'")
    rates = rows.json()["QueryResponse"]["ExchangeRate"]
    assert [(r["SourceCurrencyCode"], r["Rate"], r["AsOfDate"]) for r in rates] == [
        ("EUR", 1.08, "2026-07-07"),
        ("INR", 0.012, "2026-07-07"),
    ]
