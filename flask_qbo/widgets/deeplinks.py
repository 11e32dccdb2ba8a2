"""Links from the CRM into the QuickBooks Online web app.

QBO's UI routes (``/app/customerdetail?nameId=…``, ``/app/invoice?txnId=…``)
are not an API contract, so they live in this one module.  Every id comes
from QBO data we do not trust: only all-digit ids make a link, anything else
yields ``None`` and the widget shows no link at all rather than a URL that
could carry script or point somewhere unexpected.  ``companyId`` is appended
(as Intuit's own sample does) so a user signed in to several companies lands
in the right one instead of a blank form.
"""

from __future__ import annotations

from urllib.parse import urlencode

from ..intuit.ids import is_qbo_id
from ..state import get_qbo

#: QBO transaction type -> path of its page in the QBO web app.
TRANSACTION_PATHS: dict[str, str] = {
    "Invoice": "/app/invoice",
    "Payment": "/app/recvpayment",
    "Estimate": "/app/estimate",
    "SalesReceipt": "/app/salesreceipt",
    "CreditMemo": "/app/creditmemo",
    "RefundReceipt": "/app/refundreceipt",
}

CUSTOMER_PATH = "/app/customerdetail"


def valid_id(value: object) -> str | None:
    """The id as a string when it is all digits (QBO ids and realm ids are), else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    return text if is_qbo_id(text) else None


def app_base_url(base_url: str | None = None) -> str:
    """Host of the QBO web app for the configured environment (production, sandbox, emulator)."""
    if base_url is not None:
        return base_url.rstrip("/")
    return get_qbo().urls()["app"].rstrip("/")


def _build(path: str, key: str, object_id: object, realm_id: object, base_url: str | None) -> str | None:
    safe_id = valid_id(object_id)
    if safe_id is None:
        return None
    params = {key: safe_id}
    realm = valid_id(realm_id)
    if realm is not None:
        params["companyId"] = realm
    return f"{app_base_url(base_url)}{path}?{urlencode(params)}"


def customer_url(customer_id: object, realm_id: object = None, *, base_url: str | None = None) -> str | None:
    """URL of the customer's page in QBO, or ``None`` when the id is not a valid QBO id."""
    return _build(CUSTOMER_PATH, "nameId", customer_id, realm_id, base_url)


def transaction_url(
    txn_type: str, txn_id: object, realm_id: object = None, *, base_url: str | None = None
) -> str | None:
    """URL of a transaction's page in QBO, or ``None`` for an unknown type or invalid id."""
    path = TRANSACTION_PATHS.get(txn_type)
    if path is None:
        return None
    return _build(path, "txnId", txn_id, realm_id, base_url)


__all__ = ["CUSTOMER_PATH", "TRANSACTION_PATHS", "app_base_url", "customer_url", "transaction_url", "valid_id"]
