"""US sales tax: the TaxCode/TaxRate lists and automated sales tax on sales documents.

Facts: qbo-quote-to-cash-facts §3.1, §3.2, §3.4 (Intuit's TaxCode, Invoice and
Preferences references; the AST workflow page). The state rates are the
emulator's own table (docs/emulator.rst).
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t

import pytest

from flask_qbo.emulator import CompanySettings
from flask_qbo.emulator import Emulator

from .conftest import Api

AST_REALM = "9130350000000041"
NY = {"Line1": "1 Main St", "City": "Albany", "CountrySubDivisionCode": "NY", "PostalCode": "12207"}
TX = {"Line1": "5 Congress Ave", "City": "Austin", "CountrySubDivisionCode": "TX", "PostalCode": "78701"}
OR = {"Line1": "9 Pine St", "City": "Portland", "CountrySubDivisionCode": "OR", "PostalCode": "97201"}
_BUYERS = itertools.count(1)


@pytest.fixture
def ast(emulator: Emulator) -> Api:
    emulator.add_company(AST_REALM, "Taxed Co", CompanySettings(sales_tax=True))
    return Api(emulator, AST_REALM)


def _doc(api: Api, entity: str = "Invoice", taxable: bool = True, **fields: t.Any) -> dict[str, t.Any]:
    customer = api.create_customer(DisplayName=f"Buyer {next(_BUYERS)}", Taxable=taxable)
    body = {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [api.line(100, TaxCodeRef={"value": "TAX"}), api.line(50, TaxCodeRef={"value": "NON"})],
        **fields,
    }
    return api.create(entity, body)


def test_us_tax_codes_are_the_pseudo_codes_and_state_codes(api: Api) -> None:
    tax = api.get("taxcode/TAX").json()["TaxCode"]
    non = api.get("taxcode/NON").json()["TaxCode"]
    assert (tax["Name"], tax["Taxable"], tax["TaxGroup"], tax["Active"]) == ("TAX", True, False, True)
    assert (non["Taxable"], non["TaxGroup"]) == (False, False)
    assert {"SyncToken", "MetaData", "domain", "sparse"} <= set(tax)
    codes = api.query("select * from TaxCode where Taxable = true").json()["QueryResponse"]["TaxCode"]
    california = next(c for c in codes if c["Name"] == "California")
    (detail,) = california["SalesTaxRateList"]["TaxRateDetail"]
    assert detail == {
        "TaxRateRef": {"value": california["Id"], "name": "California"},
        "TaxTypeApplicable": "TaxOnAmount",
        "TaxOrder": 0,
    }
    rate = api.get(f"taxrate/{detail['TaxRateRef']['value']}").json()["TaxRate"]
    assert (rate["Name"], rate["RateValue"], rate["Active"]) == ("California", 8.25, True)
    assert rate["AgencyRef"]["value"] and rate["EffectiveTaxRate"][0]["RateValue"] == 8.25


@pytest.mark.parametrize("path", ["taxcode", "taxrate"])
def test_the_tax_list_is_read_only_and_not_in_cdc(api: Api, emulator: Emulator, path: str) -> None:
    created = api.post(path, {"Name": "Mine"})
    assert created.status_code == 400 and api.error(created)["code"] == "500"
    entity = "TaxCode" if path == "taxcode" else "TaxRate"
    updated = api.post(path, {"Id": "1", "SyncToken": "0", "Name": "Mine"})
    assert updated.status_code == 400 and api.error(updated)["code"] == "500"
    since = (emulator.clock.now() - dt.timedelta(days=1)).isoformat(timespec="seconds")
    cdc = api.get("cdc", entities=entity, changedSince=since)
    assert cdc.status_code == 400 and entity in api.error(cdc)["Detail"]


def test_sales_tax_not_set_up_means_no_tax(api: Api) -> None:
    prefs = api.get("preferences").json()["Preferences"]["TaxPrefs"]
    assert prefs == {"UsingSalesTax": False, "PartnerTaxEnabled": False}
    invoice = _doc(api, ShipAddr=NY, TxnTaxDetail={"TotalTax": 9})
    assert invoice["TxnTaxDetail"] == {"TotalTax": 0} and invoice["TotalAmt"] == 150


def test_ast_taxes_the_tax_lines_at_the_ship_to_state_rate(ast: Api) -> None:
    prefs = ast.get("preferences").json()["Preferences"]["TaxPrefs"]
    assert prefs == {"UsingSalesTax": True, "PartnerTaxEnabled": True}
    invoice = _doc(ast, ShipAddr=NY, BillAddr=TX, TxnTaxDetail={"TxnTaxCodeRef": {"value": "TAX"}})
    detail = invoice["TxnTaxDetail"]
    new_york = ast.query("select * from TaxCode where Name = 'New York'").json()["QueryResponse"]["TaxCode"][0]
    assert detail["TxnTaxCodeRef"] == {"value": new_york["Id"]}  # AST's choice replaces the one sent
    assert detail["TotalTax"] == 8.88  # 100 × 8.875 % = 8.875, half-up
    (line,) = detail["TaxLine"]
    assert line == {
        "Amount": 8.88,
        "DetailType": "TaxLineDetail",
        "TaxLineDetail": {
            "TaxRateRef": {"value": new_york["Id"]},
            "PercentBased": True,
            "TaxPercent": 8.875,
            "NetAmountTaxable": 100.0,
        },
    }
    assert (invoice["TotalAmt"], invoice["Balance"]) == (158.88, 158.88)


def test_ast_charges_no_tax_to_a_customer_marked_not_taxable(ast: Api) -> None:
    invoice = _doc(ast, taxable=False, ShipAddr=NY)
    assert invoice["TxnTaxDetail"]["TotalTax"] == 0 and "TaxLine" not in invoice["TxnTaxDetail"]
    assert (invoice["TotalAmt"], invoice["Balance"]) == (150, 150)


def test_ast_falls_back_to_the_bill_to_then_the_company_address(ast: Api) -> None:
    assert _doc(ast, BillAddr=TX)["TxnTaxDetail"]["TotalTax"] == 6.25
    bare = _doc(ast)  # no address anywhere: the company's own (Mountain View, CA)
    assert bare["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxPercent"] == 8.25
    untaxed = _doc(ast, ShipAddr=OR)
    assert untaxed["TxnTaxDetail"] == {"TotalTax": 0} and untaxed["TotalAmt"] == 150


@pytest.mark.parametrize(("entity", "balance"), [("Estimate", None), ("SalesReceipt", 0), ("CreditMemo", 158.88)])
def test_ast_applies_to_every_sales_document(ast: Api, entity: str, balance: float | None) -> None:
    doc = _doc(ast, entity, ShipAddr=NY)
    assert (doc["TxnTaxDetail"]["TotalTax"], doc["TotalAmt"], doc.get("Balance")) == (8.88, 158.88, balance)
    if entity == "CreditMemo":
        assert doc["RemainingCredit"] == 158.88


def test_a_sent_total_tax_overrides_and_an_echoed_one_is_recomputed(ast: Api) -> None:
    invoice = _doc(ast, ShipAddr=NY, TxnTaxDetail={"TotalTax": 10})
    assert invoice["TxnTaxDetail"]["TotalTax"] == 10 and invoice["TxnTaxDetail"]["TaxLine"][0]["Amount"] == 10
    assert invoice["TotalAmt"] == 160
    kept = ast.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "DueDate": "2030-01-01"}
    )
    assert kept.json()["Invoice"]["TxnTaxDetail"]["TotalTax"] == 10  # the override survives other changes
    plain = _doc(ast, ShipAddr=NY)
    echoed = {**plain, "Line": [ast.line(200, TaxCodeRef={"value": "TAX"})]}
    redone = ast.post("invoice", {**echoed, "sparse": False}).json()["Invoice"]
    assert redone["TxnTaxDetail"]["TotalTax"] == 17.75 and redone["TotalAmt"] == 217.75


def test_tax_after_discount_lowers_the_taxable_amount(ast: Api) -> None:
    discount = {"Amount": 30, "DetailType": "DiscountLineDetail", "DiscountLineDetail": {"PercentBased": False}}
    customer = ast.create_customer(DisplayName="Discounted")
    lines = [ast.line(100, TaxCodeRef={"value": "TAX"}), ast.line(50, TaxCodeRef={"value": "NON"}), discount]
    body = {"CustomerRef": {"value": customer["Id"]}, "ShipAddr": TX, "Line": lines}
    before = ast.create("Invoice", body)
    assert before["TxnTaxDetail"]["TotalTax"] == 6.25 and before["TotalAmt"] == 126.25
    after = ast.create("Invoice", {**body, "ApplyTaxAfterDiscount": True})
    # 100 of 150 is taxable; the 30 discount takes a fifth off it: 80 × 6.25 % = 5.00
    assert after["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"] == 80
    assert after["TxnTaxDetail"]["TotalTax"] == 5 and after["TotalAmt"] == 125


def test_us_lines_must_use_tax_or_non(ast: Api) -> None:
    customer = ast.create_customer(DisplayName="Coded")
    response = ast.post(
        "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [ast.line(5, TaxCodeRef={"value": "2"})]}
    )
    error = ast.error(response)
    assert error["code"] == "6100" and "Valid Line TaxCodes for US should be TAX or NON" in error["Detail"]
