"""Helpers for the reference-data and signal tests: emulator Items, and tax payloads shaped as Intuit documents them.

The tax payloads follow the TaxCode / TaxRate / Preferences shapes in
``shared/qbo-quote-to-cash-facts.md`` §3 (REF-TAXCODE, MIRROR taxrate.md,
REF-PREF): a US company lists the pseudo codes ``TAX`` / ``NON``; a Canadian
one numeric codes whose ``SalesTaxRateList`` points at rates.
"""

from __future__ import annotations

import typing as t

from flask_qbo.testing import TEST_REALM

US_TAX_CODES = [
    {"Id": "TAX", "Name": "TAX", "Description": "TAX", "Taxable": True, "TaxGroup": False, "Active": True},
    {"Id": "NON", "Name": "NON", "Description": "NON", "Taxable": False, "TaxGroup": False, "Active": True},
    {
        "Id": "2",
        "Name": "California",
        "Description": "California",
        "Taxable": True,
        "TaxGroup": True,
        "Active": True,
        "SalesTaxRateList": {
            "TaxRateDetail": [
                {"TaxRateRef": {"value": "4", "name": "County"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 1},
                {"TaxRateRef": {"value": "3", "name": "State"}, "TaxTypeApplicable": "TaxOnAmount", "TaxOrder": 0},
            ]
        },
        "PurchaseTaxRateList": {"TaxRateDetail": []},
        "MetaData": {"CreateTime": "2026-01-05T10:00:00-08:00", "LastUpdatedTime": "2026-01-05T10:00:00-08:00"},
    },
]
US_TAX_RATES = [
    {"Id": "3", "Name": "California State", "RateValue": 7.25, "AgencyRef": {"value": "1"}, "Active": True},
    {"Id": "4", "Name": "Alameda County", "RateValue": "1.0", "AgencyRef": {"value": "1"}, "Active": True},
]
CA_PREFERENCES = {
    "Id": "1",
    "SalesFormsPrefs": {
        "CustomTxnNumbers": True,
        "AllowEstimates": True,
        "AllowDiscount": False,
        "ETransactionPaymentEnabled": True,
        "DefaultTerms": {"value": "2"},
    },
    "TaxPrefs": {"UsingSalesTax": True, "TaxGroupCodeRef": {"value": "5"}},
    "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "CAD"}},
}
AST_PREFERENCES = {
    "Id": "1",
    "SalesFormsPrefs": {"CustomTxnNumbers": False},
    "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True, "TaxGroupCodeRef": {"value": "2"}},
    "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
}


def emulator_lists(emu: t.Any, entity: str) -> bool:
    """True when the emulator answers queries of ``entity`` (TaxCode and TaxRate come with its tax model)."""
    from flask_qbo.emulator import entities

    return entity in entities.ENTITIES


def change_item(
    emu: t.Any,
    item_id: str | None = None,
    *,
    operation: str = "Update",
    deleted_id: str | None = None,
    realm: str = TEST_REALM,
    **fields: t.Any,
) -> dict[str, t.Any]:
    """Create (``item_id=None``) or change an emulator Item through the store's own change path.

    The change is stamped, bumps the SyncToken, shows in CDC and raises the
    webhook, exactly as a change made in QuickBooks does.
    """
    store = emu.store
    with store.lock:
        company = store.company(realm)
        table = company.tables["Item"]
        if item_id is None:
            item_id = company.new_id("Item")
            table[item_id] = {"Id": item_id, "SyncToken": "0", "Active": True, "Type": "Service"}
            operation = "Create"
        obj = table[item_id]
        obj.update(fields)
        store._commit(company, "Item", obj, operation, deleted_id)
        return dict(obj)
