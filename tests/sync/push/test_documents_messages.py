"""What a refused document shows: Intuit's message and detail, readable, and what the row tried."""

from __future__ import annotations

from flask_qbo.errors import QBOInactiveReferenceError
from flask_qbo.errors import QBOValidationError
from flask_qbo.sync.push.doc_failure import document_message
from flask_qbo.sync.push.doc_failure import money


def test_message_and_detail_both_show_once() -> None:
    exc = QBOValidationError(
        "Amount calculation incorrect in the request",
        code="6070",
        detail="Amount is not equal to UnitPrice * Qty. Supplied value:150.01",
        element="Line.Amount",
    )
    assert document_message(exc) == (
        "Amount calculation incorrect in the request: Amount is not equal to UnitPrice * Qty. "
        "Supplied value:150.01 (field Line.Amount)"
    )
    same = QBOValidationError("Business Validation Error", code="6000", detail="Business Validation Error")
    assert document_message(same) == "Business Validation Error"


def test_an_inactive_product_is_named_by_its_field() -> None:
    exc = QBOInactiveReferenceError(
        "Object Not Found",
        code="610",
        detail="Something you're trying to use has been made inactive.",
        element="Line.SalesItemLineDetail.ItemRef",
    )
    message = document_message(exc)
    assert message.startswith("The product or service (Line.SalesItemLineDetail.ItemRef) is inactive in QuickBooks")
    assert message.endswith("(QuickBooks error 610: Something you're trying to use has been made inactive.)")


def test_an_unexpected_error_says_so() -> None:
    assert document_message(KeyError("Id")) == "Unexpected error: KeyError: 'Id'"


def test_money_rounds_half_up_to_the_cent() -> None:
    assert str(money("1861.075")) == "1861.08"
    assert str(money(2.5)) == "2.50"
    assert money(None) is None and money(True) is None and money("n/a") is None
