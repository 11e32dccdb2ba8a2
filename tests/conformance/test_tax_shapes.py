"""In a company that computes sales tax, documents carry the whole documented ``TxnTaxDetail``.

:mod:`.test_emulator` checks the documented full examples against a company
whose sales tax is not set up, where QBO (and so the emulator) keeps only
``TotalTax``. Here the same examples are created in a US company on automated
sales tax: the tax code, the tax lines and every field of them must then be
there, with the documented JSON types.
"""

from __future__ import annotations

import pytest

from flask_qbo.emulator import CompanySettings
from flask_qbo.emulator import Emulator
from tests.emulator.conftest import Api

from .shapes import differences
from .shapes import shape
from .test_emulator import _TAX_DETAIL
from .test_emulator import NOT_AFTER_A_CREATE
from .test_emulator import NOT_MODELLED
from .test_emulator import _create_request

AST_REALM = "9130350000000061"


@pytest.mark.parametrize("kind", ["invoice", "estimate", "creditmemo", "salesreceipt"])
def test_taxed_documents_have_the_documented_tax_detail(emulator: Emulator, kind: str) -> None:
    emulator.add_company(AST_REALM, "Taxed Conformance", CompanySettings(sales_tax=True))
    api = Api(emulator, AST_REALM)
    entity, full, body = _create_request(api, kind)
    for line in body["Line"]:
        if line.get("DetailType") == "SalesItemLineDetail":
            line["SalesItemLineDetail"]["TaxCodeRef"] = {"value": "TAX"}
    created = api.create(entity, body)
    assert created["TxnTaxDetail"]["TotalTax"] > 0
    allowed = (NOT_MODELLED.get(entity, frozenset()) - frozenset(_TAX_DETAIL)) | NOT_AFTER_A_CREATE.get(
        entity, frozenset()
    )
    missing, mistyped = differences(shape(full), shape(created))
    assert not missing - allowed, sorted(missing - allowed)
    assert not mistyped, sorted(mistyped)
