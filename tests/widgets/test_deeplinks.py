"""Deep links into the QBO web app: paths per type, host per environment, id validation."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.widgets import deeplinks
from flask_qbo.widgets.deeplinks import customer_url
from flask_qbo.widgets.deeplinks import transaction_url
from tests.hostapp import make_app

BASE = "https://app.qbo.intuit.com"


@pytest.mark.parametrize(
    ("txn_type", "path"),
    [
        ("Invoice", "invoice"),
        ("Payment", "recvpayment"),
        ("Estimate", "estimate"),
        ("SalesReceipt", "salesreceipt"),
        ("CreditMemo", "creditmemo"),
        ("RefundReceipt", "refundreceipt"),
    ],
)
def test_transaction_paths(txn_type: str, path: str) -> None:
    assert transaction_url(txn_type, "145", "9130", base_url=BASE) == f"{BASE}/app/{path}?txnId=145&companyId=9130"


def test_customer_url_and_company_id() -> None:
    assert customer_url("58", "9130", base_url=BASE + "/") == f"{BASE}/app/customerdetail?nameId=58&companyId=9130"
    assert customer_url(58, None, base_url=BASE) == f"{BASE}/app/customerdetail?nameId=58"
    # A realm that is not a QBO realm id is left out rather than passed through.
    assert customer_url("58", "93&x=1", base_url=BASE) == f"{BASE}/app/customerdetail?nameId=58"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        " 58",
        "58 ",
        "5a",
        "-1",
        "1.5",
        "<script>",
        "58&nameId=1",
        "javascript:alert(1)",
        "１２",
        True,
        "9" * 33,
    ],
)
def test_invalid_ids_make_no_link(bad: t.Any) -> None:
    assert customer_url(bad, "1", base_url=BASE) is None
    assert transaction_url("Invoice", bad, "1", base_url=BASE) is None


def test_unknown_type_makes_no_link() -> None:
    assert transaction_url("Bill", "1", base_url=BASE) is None
    assert transaction_url("<b>", "1", base_url=BASE) is None


@pytest.mark.parametrize(
    ("config", "host"),
    [
        ({"QBO_ENVIRONMENT": "production"}, "https://app.qbo.intuit.com"),
        ({"QBO_ENVIRONMENT": "sandbox"}, "https://app.sandbox.qbo.intuit.com"),
        ({"QBO_ENVIRONMENT": "emulator", "QBO_EMULATOR_URL": "http://127.0.0.1:5055/"}, "http://127.0.0.1:5055"),
        ({"QBO_ENVIRONMENT": "production", "QBO_APP_BASE_URL": "https://qbo.intuit.com"}, "https://qbo.intuit.com"),
    ],
)
def test_host_follows_environment(config: dict[str, str], host: str) -> None:
    app = make_app("sqlite://", **config)
    with app.app_context():
        assert deeplinks.app_base_url() == host
        assert customer_url("7", "42") == f"{host}/app/customerdetail?nameId=7&companyId=42"
