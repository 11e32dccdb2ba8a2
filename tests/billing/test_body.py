"""The QBO request body: exact shape, numbers, DocNumber only with custom numbers, LinkedTxn on conversion."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from flask_qbo.billing.body import build_body
from flask_qbo.billing.money import to_cents
from flask_qbo.billing.totals import compute

from .helpers import D
from .helpers import catalog
from .helpers import draft
from .helpers import line


def test_minimal_invoice_body() -> None:
    body = build_body(draft(line(qty="2", price="75")), catalog())
    assert body == {
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": 150.0,
                "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Design"}, "Qty": 2, "UnitPrice": 75},
            }
        ]
    }
    assert "CustomerRef" not in body and "TxnTaxDetail" not in body


def test_every_line_amount_is_qty_times_unit_price_in_the_body() -> None:
    lines = (
        line(qty="3", price="333.565"),
        line(item="2", qty="1.5", price="0.3333333"),
        line(qty="7", price="19.99"),
    )
    body = build_body(draft(*lines), catalog())
    sent = json.loads(json.dumps(body))  # what reaches QBO
    for entry in sent["Line"]:
        detail = entry["SalesItemLineDetail"]
        product = to_cents(Decimal(str(detail["Qty"])) * Decimal(str(detail["UnitPrice"])))
        assert Decimal(str(entry["Amount"])) == product
    assert [entry["Amount"] for entry in sent["Line"]] == [1000.7, 0.5, 139.93]


def test_full_body_fields() -> None:
    day = dt.date(2026, 11, 29)
    body = build_body(
        draft(
            line(description="Design work"),
            discount_percent=D("12.5"),
            terms_id="3",
            txn_date=day,
            due_date=day + dt.timedelta(days=30),
            expiration_date=day,  # an invoice has none: not sent
            customer_memo="Thank you",
            bill_email="ada@example.com",
            currency="EUR",
            exchange_rate=D("1.0825"),
            doc_number="INV-1",
        ),
        catalog(multi_currency=True),
    )
    assert body["Line"][0]["Description"] == "Design work"
    assert body["Line"][1] == {
        "DetailType": "DiscountLineDetail",
        "Amount": 18.75,
        "DiscountLineDetail": {"PercentBased": True, "DiscountPercent": 12.5},
    }
    assert body["SalesTermRef"] == {"value": "3"}
    assert (body["TxnDate"], body["DueDate"]) == ("2026-11-29", "2026-12-29")
    assert "ExpirationDate" not in body
    assert body["CustomerMemo"] == {"value": "Thank you"}
    assert body["BillEmail"] == {"Address": "ada@example.com"}
    assert body["CurrencyRef"] == {"value": "EUR"} and body["ExchangeRate"] == 1.0825
    assert "DocNumber" not in body  # QBO numbers this company's documents
    assert "LinkedTxn" not in body and "GlobalTaxCalculation" not in body


def test_discount_amount_line() -> None:
    body = build_body(draft(discount_amount=D("5")), catalog())
    assert body["Line"][-1] == {
        "DetailType": "DiscountLineDetail",
        "Amount": 5.0,
        "DiscountLineDetail": {"PercentBased": False},
    }


def test_doc_number_only_with_custom_numbers() -> None:
    assert build_body(draft(doc_number="INV-1"), catalog(custom_txn_numbers=True))["DocNumber"] == "INV-1"
    assert "DocNumber" not in build_body(draft(doc_number="INV-1"), catalog())


def test_estimate_carries_its_expiration_date() -> None:
    body = build_body(draft(kind="Estimate", expiration_date=dt.date(2026, 12, 31)), catalog())
    assert body["ExpirationDate"] == "2026-12-31"


def test_conversion_links_the_estimate() -> None:
    body = build_body(draft(estimate_qbo_id="41"), catalog())
    assert body["LinkedTxn"] == [{"TxnId": "41", "TxnType": "Estimate"}]


def test_per_line_tax_company_sends_codes_and_tax_excluded() -> None:
    body = build_body(draft(line(tax="7")), catalog(tax_model="per_line"))
    assert body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "7"}
    assert body["GlobalTaxCalculation"] == "TaxExcluded"


def test_us_lines_default_to_the_items_taxability() -> None:
    lines = (line(item="1"), line(item="2"), line(item="2", tax="TAX"))
    body = build_body(draft(*lines), catalog(tax_model="us_ast"))
    codes = [entry["SalesItemLineDetail"]["TaxCodeRef"]["value"] for entry in body["Line"]]
    assert codes == ["TAX", "NON", "TAX"]
    assert "GlobalTaxCalculation" not in body


def test_us_company_without_automated_sales_tax_names_its_default_rate() -> None:
    """A pre-2017 US company: TAX/NON lines, and QBO taxes them only at the rate the document names."""
    lines = (line(item="1"), line(item="2"), line(item="2", tax="TAX"))
    prefs = {"tax_model": "us_manual", "country": "US", "default_tax_code_id": "7"}
    body = build_body(draft(*lines), catalog(**prefs))
    codes = [entry["SalesItemLineDetail"]["TaxCodeRef"]["value"] for entry in body["Line"]]
    assert codes == ["TAX", "NON", "TAX"]
    assert body["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "7"}}
    assert "GlobalTaxCalculation" not in body
    assert compute(draft(*lines), catalog(**prefs)).tax_estimated  # "calculated by QuickBooks"
    ast = build_body(draft(*lines), catalog(tax_model="us_ast", default_tax_code_id="7"))
    assert "TxnTaxDetail" not in ast  # automated sales tax picks the rate itself


def test_no_tax_company_sends_no_tax_code() -> None:
    body = build_body(draft(line(tax="7")), catalog())
    assert "TaxCodeRef" not in body["Line"][0]["SalesItemLineDetail"]


def test_home_currency_sends_no_exchange_rate() -> None:
    body = build_body(draft(currency="USD", exchange_rate=D("1")), catalog(multi_currency=True))
    assert body["CurrencyRef"] == {"value": "USD"} and "ExchangeRate" not in body


def test_multi_currency_always_sends_a_currency() -> None:
    assert build_body(draft(), catalog(multi_currency=True))["CurrencyRef"] == {"value": "USD"}
    assert "CurrencyRef" not in build_body(draft(), catalog())


def test_fifteen_significant_digits_reach_quickbooks_unchanged() -> None:
    """The most validation lets through: the JSON number reads back as the Decimal that was checked."""
    price = Decimal("99999999.9949999")
    body = json.loads(json.dumps(build_body(draft(line(qty="1", price=str(price))), catalog())))
    assert Decimal(str(body["Line"][0]["SalesItemLineDetail"]["UnitPrice"])) == price
