"""A non-US company: its country, currency, Preferences, tax list and per-line tax codes.

Facts: qbo-quote-to-cash-facts §3.1, §3.3, §3.4 and §3.5; the GST/HST and VAT
wording of the missing-rate fault is quoted from integrators' reports there.
"""

from __future__ import annotations

import re
import typing as t

import pytest

from flask_qbo.emulator import CompanySettings
from flask_qbo.emulator import Emulator
from flask_qbo.emulator.seed import SECOND_REALM
from flask_qbo.emulator.seed import seed_demo

from .conftest import Api

CA_REALM = "9130350000000051"
GB_REALM = "9130350000000052"


@pytest.fixture
def canada(emulator: Emulator) -> Api:
    emulator.add_company(CA_REALM, "Maple Trading", CompanySettings(country="CA"))
    return Api(emulator, CA_REALM)


def _invoice(api: Api, *lines: dict[str, t.Any], **fields: t.Any) -> t.Any:
    customer = api.create_customer(DisplayName=f"Client {len(api.emulator.store.list(api.realm, 'Customer'))}")
    return api.post("invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": list(lines), **fields})


def _coded(api: Api, amount: float, code: str) -> dict[str, t.Any]:
    return api.line(amount, TaxCodeRef={"value": code})


def test_company_info_preferences_and_currency_follow_the_country(canada: Api) -> None:
    info = canada.get(f"companyinfo/{CA_REALM}").json()["CompanyInfo"]
    assert info["Country"] == "CA" and info["CompanyAddr"]["Country"] == "CAN"
    prefs = canada.get("preferences").json()["Preferences"]
    assert prefs["TaxPrefs"] == {"UsingSalesTax": True, "TaxGroupCodeRef": {"value": "5"}}  # no PartnerTaxEnabled
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "CAD"}}
    customer = canada.create_customer(DisplayName="Loonie Ltd")
    assert customer["CurrencyRef"] == {"value": "CAD", "name": "Canadian Dollar"}


def test_country_comes_from_company_info_or_settings_and_must_be_modelled(emulator: Emulator) -> None:
    emulator.add_company(GB_REALM, "Thames Ltd", Country="GB")
    assert emulator.store.company(GB_REALM).prefs.home_currency == "GBP"
    with pytest.raises(ValueError, match="disagree"):
        emulator.add_company("9130350000000053", "Mixed", CompanySettings(country="CA"), Country="GB")
    with pytest.raises(ValueError, match="unsupported country"):
        CompanySettings(country="FR")


def test_tax_codes_are_numbered_and_name_their_rates(canada: Api) -> None:
    codes = canada.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert [c["Id"] for c in codes] == ["2", "3", "4", "5", "6"]
    quebec = next(c for c in codes if c["Id"] == "6")
    assert quebec["TaxGroup"] is True and quebec["Taxable"] is True
    details = quebec["SalesTaxRateList"]["TaxRateDetail"]
    assert [(d["TaxRateRef"]["name"], d["TaxTypeApplicable"], d["TaxOrder"]) for d in details] == [
        ("GST", "TaxOnAmount", 0),
        ("QST", "TaxOnAmount", 1),
    ]
    rate = canada.get("taxrate/3").json()["TaxRate"]
    assert (rate["Name"], rate["RateValue"], rate["AgencyRef"]) == ("QST", 9.975, {"value": "2"})


def test_a_line_without_a_tax_code_is_refused_in_the_countrys_words(canada: Api, emulator: Emulator) -> None:
    response = _invoice(canada, canada.line(10))
    assert response.status_code == 400
    error = canada.error(response)
    assert error["code"] == "6000"
    assert error["Detail"] == "Make sure all your transactions have a GST/HST rate before you save"
    emulator.add_company(GB_REALM, "Thames Ltd", CompanySettings(country="GB"))
    british = Api(emulator, GB_REALM)
    vat = british.error(_invoice(british, british.line(10)))
    assert vat["Detail"] == "Make sure all your transactions have a VAT rate before you save"
    unknown = canada.error(_invoice(canada, _coded(canada, 10, "99")))
    assert (unknown["code"], unknown["element"]) == ("2500", "Line.SalesItemLineDetail.TaxCodeRef")


def test_each_rate_of_a_code_makes_one_tax_line_rounded_half_up(canada: Api) -> None:
    invoice = _invoice(canada, _coded(canada, 100, "6"), _coded(canada, 0.5, "4")).json()["Invoice"]
    detail = invoice["TxnTaxDetail"]
    assert "TxnTaxCodeRef" not in detail
    lines = {ln["TaxLineDetail"]["TaxRateRef"]["value"]: ln for ln in detail["TaxLine"]}
    # GST 5 % of 100.50 = 5.025 → 5.03 (half-up, per tax line); QST 9.975 % of 100 = 9.975 → 9.98
    assert (lines["1"]["Amount"], lines["1"]["TaxLineDetail"]["NetAmountTaxable"]) == (5.03, 100.5)
    assert (lines["3"]["Amount"], lines["3"]["TaxLineDetail"]["TaxPercent"]) == (9.98, 9.975)
    assert detail["TotalTax"] == 15.01
    assert (invoice["TotalAmt"], invoice["Balance"]) == (115.51, 115.51)
    assert invoice["GlobalTaxCalculation"] == "TaxExcluded"
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "6", "name": "GST/QST QC - 9.975"}


def test_tax_on_amount_plus_tax_compounds_in_tax_order(canada: Api, emulator: Emulator) -> None:
    code = emulator.store.company(CA_REALM).table("TaxCode")["6"]
    code["SalesTaxRateList"]["TaxRateDetail"][1]["TaxTypeApplicable"] = "TaxOnAmountPlusTax"
    invoice = _invoice(canada, _coded(canada, 100, "6")).json()["Invoice"]
    qst = next(ln for ln in invoice["TxnTaxDetail"]["TaxLine"] if ln["TaxLineDetail"]["TaxRateRef"]["value"] == "3")
    # QST on 100 + 5 GST: 105 × 9.975 % = 10.47375 → 10.47
    assert (qst["TaxLineDetail"]["NetAmountTaxable"], qst["Amount"]) == (105, 10.47)
    assert invoice["TxnTaxDetail"]["TotalTax"] == 15.47


def test_a_discount_is_taken_off_before_tax(canada: Api) -> None:
    discount = {"Amount": 20, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    invoice = _invoice(canada, _coded(canada, 100, "5"), discount).json()["Invoice"]
    assert invoice["TxnTaxDetail"]["TotalTax"] == 10.4 and invoice["TotalAmt"] == 90.4


def test_tax_inclusive_amounts_are_refused_clearly(canada: Api) -> None:
    error = canada.error(_invoice(canada, _coded(canada, 100, "5"), GlobalTaxCalculation="TaxInclusive"))
    assert error["code"] == "6000" and "TaxInclusive" in error["Detail"] and error["element"] == "GlobalTaxCalculation"


def test_non_us_items_carry_tax_codes_not_taxable(canada: Api) -> None:
    body = {"Name": "Rope", "Type": "NonInventory", "IncomeAccountRef": {"value": "79"}, "Taxable": True}
    item = canada.create("Item", {**body, "SalesTaxCodeRef": {"value": "5"}})
    assert "Taxable" not in item and item["SalesTaxCodeRef"] == {"value": "5", "name": "HST ON"}
    wrong = canada.post("item", {**body, "Name": "Net", "SalesTaxCodeRef": {"value": "TAX"}})
    assert canada.error(wrong)["code"] == "2500"


def test_settings_switch_preferences_and_company_prefs(emulator: Emulator) -> None:
    settings = CompanySettings(custom_txn_numbers=True, multicurrency=True, allow_shipping=True, online_payments=True)
    emulator.add_company(CA_REALM, "Flags", settings)
    forms = Api(emulator, CA_REALM).get("preferences").json()["Preferences"]
    assert forms["SalesFormsPrefs"]["CustomTxnNumbers"] is True and forms["SalesFormsPrefs"]["AllowShipping"] is True
    assert forms["SalesFormsPrefs"]["ETransactionPaymentEnabled"] is True
    assert forms["CurrencyPrefs"]["MultiCurrencyEnabled"] is True
    prefs = emulator.store.company(CA_REALM).prefs
    assert (prefs.custom_txn_numbers, prefs.multicurrency_enabled, prefs.allow_shipping) == (True, True, True)
    assert (prefs.home_currency, prefs.automated_sales_tax, prefs.default_terms) == ("USD", False, "3")


def test_the_seeded_second_company_is_canadian() -> None:
    emu = Emulator()
    seed_demo(emu)
    company = emu.store.company(SECOND_REALM)
    assert company.country() == "CA" and company.prefs.home_currency == "CAD"
    for customer in emu.store.list(SECOND_REALM, "Customer"):
        assert customer["BillAddr"]["Country"] == "Canada" and customer["CurrencyRef"]["value"] == "CAD"
    invoices = emu.store.list(SECOND_REALM, "Invoice")
    taxed = [i for i in invoices if i["TotalAmt"]]
    assert taxed and all(i["TxnTaxDetail"]["TotalTax"] > 0 for i in taxed)
    assert all(ln["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "5" for i in taxed for ln in i["Line"][:-1])


def test_the_web_ui_puts_the_default_tax_code_on_a_new_line() -> None:
    emu = Emulator()
    seed_demo(emu)
    client = emu.app.test_client()
    client.get(f"/app/customers?companyId={SECOND_REALM}")
    page = client.get("/app/customer/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    customer = emu.store.create(SECOND_REALM, "Customer", {"DisplayName": "Walk-in"})
    form = {"csrf_token": token.group(1), "action": "invoice", "Description": "Rope", "Amount": "100"}
    assert client.post(f"/app/customerdetail?nameId={customer['Id']}", data=form).status_code == 302
    (invoice,) = [i for i in emu.store.list(SECOND_REALM, "Invoice") if i["CustomerRef"]["value"] == customer["Id"]]
    assert invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "5"
    assert (invoice["TxnTaxDetail"]["TotalTax"], invoice["TotalAmt"]) == (13, 113)
