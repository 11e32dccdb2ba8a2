"""Fault bodies → error classes (both envelopes), retries, backoff and requestid reuse."""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.errors import QBOAPIError
from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBODuplicateNameError
from flask_qbo.errors import QBONotFoundError
from flask_qbo.errors import QBORateLimitError
from flask_qbo.errors import QBOStaleObjectError
from flask_qbo.errors import QBOTransientError
from flask_qbo.errors import QBOValidationError
from flask_qbo.intuit import faults
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.intuit.test_client import RecordingAdapter
from tests.intuit.test_client import params
from tests.intuit.test_client import record

GATEWAY_401 = {
    "warnings": None,
    "intuitObject": None,
    "fault": {
        "error": [
            {
                "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                "detail": "Token expired: AB01",
                "code": "3200",
                "element": None,
            }
        ],
        "type": "AUTHENTICATION",
    },
    "report": None,
    "queryResponse": None,
    "batchItemResponse": [],
    "time": 1730024394085,
    "cdcresponse": [],
}


def upper(code: str, message: str = "m", detail: str = "d", element: str = "", kind: str = "ValidationFault"):
    return {
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": element}], "type": kind},
        "time": "2017-09-29T09:17:31.892-07:00",
    }


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, upper("6240"), QBODuplicateNameError),
        (400, upper("5010"), QBOStaleObjectError),
        (400, upper("610"), QBONotFoundError),
        (404, None, QBONotFoundError),
        (400, upper("2050", element="DisplayName"), QBOValidationError),
        (400, upper("4000"), QBOValidationError),
        (401, GATEWAY_401, QBOAuthError),
        (
            403,
            {"fault": {"error": [{"message": "x", "detail": "", "code": "3100", "element": None}], "type": "SERVICE"}},
            QBOAuthError,
        ),
        (401, upper("120", kind="AuthorizationFault"), QBOAuthError),
        (429, upper("3001", kind="SERVICE"), QBORateLimitError),
        (403, upper("003001", kind="SERVICE"), QBORateLimitError),
        (500, upper("10000", kind="SystemFault"), QBOTransientError),
        (503, None, QBOTransientError),
        (502, {"unexpected": True}, QBOTransientError),
    ],
)
def test_classification(status: int, body: t.Any, cls: type) -> None:
    error = faults.error_from_body(status, body, intuit_tid="tid-1")
    assert type(error) is cls
    assert error.status == status and error.intuit_tid == "tid-1"


def test_both_envelopes_parse_to_the_same_fields() -> None:
    kind, errors = faults.parse_fault(GATEWAY_401)
    assert kind == "AUTHENTICATION"
    assert errors == [
        {
            "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
            "detail": "Token expired: AB01",
            "code": "3200",
            "element": None,
        }
    ]
    error = faults.error_from_body(400, upper("2050", "Too long", "Max 100", "GivenName"))
    assert (error.code, error.message, error.detail, error.element) == ("2050", "Too long", "Max 100", "GivenName")
    assert "[2050] Too long: Max 100 (field GivenName)" == str(error)
    assert faults.parse_fault({"QueryResponse": {}}) == (None, [])


def test_retry_after_parsing() -> None:
    assert faults.parse_retry_after("7") == 7.0
    assert faults.parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert faults.parse_retry_after("soon") is None
    assert faults.parse_retry_after(None) is None


@pytest.mark.parametrize("value", ["\u00b2", "1\u00b2", "\u00b9.5"], ids=["superscript", "mixed", "decimal"])
def test_a_retry_after_of_non_ascii_digits_is_ignored(value: str) -> None:
    """``str.isdigit`` says yes to superscript digits, which ``float`` then refuses: no crash, no wait."""
    assert faults.parse_retry_after(value) is None


@pytest.fixture
def recorder(app: t.Any, emulator: t.Any) -> RecordingAdapter:
    return record(app, emulator)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def qbo_client(
    app: t.Any, connected: Connection, recorder: RecordingAdapter, sleeps: list[float]
) -> t.Iterator[QBOClient]:
    with app.app_context():
        client = get_qbo(app).client(connected)
        client.sleep = sleeps.append
        yield client


def test_duplicate_name_keeps_intuit_fields_and_tid(qbo_client: QBOClient) -> None:
    qbo_client.create("Customer", {"DisplayName": "Twin"})
    with pytest.raises(QBODuplicateNameError) as info:
        qbo_client.create("Customer", {"DisplayName": "Twin"})
    error = info.value
    assert (error.status, error.code, error.element) == (400, "6240", "DisplayName")
    assert error.message == "Duplicate Name Exists Error"
    assert "already using this name" in error.detail
    assert error.intuit_tid and error.intuit_tid.startswith("1-")
    assert error.fault_type == "ValidationFault"


def test_stale_sync_token(qbo_client: QBOClient) -> None:
    created = qbo_client.create("Customer", {"DisplayName": "Stale"})
    qbo_client.sparse_update("Customer", {"Id": created["Id"], "SyncToken": "0", "Notes": "a"})
    with pytest.raises(QBOStaleObjectError) as info:
        qbo_client.sparse_update("Customer", {"Id": created["Id"], "SyncToken": "0", "Notes": "b"})
    assert info.value.code == "5010"


def test_not_found_and_validation_element(qbo_client: QBOClient, emulator: t.Any) -> None:
    with pytest.raises(QBONotFoundError) as info:
        qbo_client.read("Customer", "999")
    assert info.value.code == "610"
    with pytest.raises(QBOValidationError) as info:
        qbo_client.create("Customer", {"DisplayName": "x" * 501})
    assert (info.value.code, info.value.element) == ("2050", "DisplayName")
    emulator.faults.fail_next(status=404)
    with pytest.raises(QBONotFoundError):
        qbo_client.read("Customer", "1")


def test_403_is_an_auth_error_without_retry_or_reconnect(
    qbo_client: QBOClient, emulator: t.Any, connected: Connection
) -> None:
    emulator.faults.fail_next(status=403)
    with pytest.raises(QBOAuthError) as info:
        qbo_client.company_info()
    assert info.value.code == "3100" and info.value.status == 403
    assert qbo_client.stats["requests"] == 1
    assert qbo_client.auth.connection.status == "connected"


def test_transient_errors_are_retried_with_the_same_requestid(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter, sleeps: list[float]
) -> None:
    emulator.faults.fail_next(n=1, status=500, path_contains="/customer")
    emulator.faults.fail_next(n=1, status=503, path_contains="/customer")
    emulator.faults.timeout_next(n=1, path_contains="/customer")
    emulator.faults.disconnect_next(n=1, path_contains="/customer")
    created = qbo_client.create("Customer", {"DisplayName": "Persistent"}, request_id="rid-42")
    assert created["DisplayName"] == "Persistent"
    calls = recorder.matching("/customer")
    assert len(calls) == 5
    assert {params(c)["requestid"][0] for c in calls} == {"rid-42"}
    assert len(sleeps) == 4 and qbo_client.stats["retries"] == 4


def test_generated_requestid_is_reused_after_a_lost_response(
    qbo_client: QBOClient, emulator: t.Any, recorder: RecordingAdapter
) -> None:
    emulator.faults.timeout_next(n=1, after_execute=True, path_contains="/customer")
    created = qbo_client.create("Customer", {"DisplayName": "Exactly once"})
    calls = recorder.matching("/customer")
    assert len(calls) == 2 and params(calls[0])["requestid"] == params(calls[1])["requestid"]
    assert [c["Id"] for c in emulator.store.list(TEST_REALM, "Customer")] == [created["Id"]]


def test_backoff_is_exponential_with_full_jitter(
    qbo_client: QBOClient, emulator: t.Any, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    ceilings: list[float] = []
    monkeypatch.setattr("flask_qbo.intuit.client.random.uniform", lambda lo, hi: ceilings.append(hi) or hi / 2)
    emulator.faults.fail_next(n=5, status=502)
    with pytest.raises(QBOTransientError):
        qbo_client.company_info()
    assert ceilings == [0.5, 1.0, 2.0, 4.0]
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    assert qbo_client.stats["requests"] == 5  # max_retries=4 → five attempts, then the error


def test_backoff_is_capped(qbo_client: QBOClient) -> None:
    qbo_client.backoff_cap = 3.0
    error = QBOTransientError("x")
    assert all(0 <= qbo_client._delay(10, error) <= 3.0 for _ in range(50))


def test_retry_after_is_bounded_by_one_rate_window(qbo_client: QBOClient) -> None:
    """A huge or bogus ``Retry-After`` must not park a worker thread for hours; QBO's window is a minute."""
    error = QBORateLimitError("slow down", retry_after=86_400.0)
    assert qbo_client._delay(0, error) == 60.0
    assert qbo_client._delay(0, QBORateLimitError("slow down", retry_after=7.0)) == 7.0


def test_rate_limit_honours_retry_after(app: t.Any, connected: Connection, emulator: t.Any) -> None:
    emulator.config.rate_per_minute = 2
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        emulator.clock.advance(seconds)

    with app.app_context():
        client = get_qbo(app).client(connected)
        client.throttle = None  # let the emulator's own throttle answer 429
        client.sleep = sleep
        for _ in range(3):
            client.company_info()
    assert len(waited) == 1 and waited[0] >= 1
    assert emulator.counters[TEST_REALM]["throttled"] == 1


def test_rate_limit_error_carries_retry_after_when_retries_run_out(
    app: t.Any, connected: Connection, emulator: t.Any
) -> None:
    emulator.config.rate_per_minute = 1
    with app.app_context():
        client = get_qbo(app).client(connected)
        client.throttle, client.max_retries = None, 0
        client.company_info()
        with pytest.raises(QBORateLimitError) as info:
            client.company_info()
    assert info.value.code == "3001" and info.value.status == 429
    assert info.value.retry_after and info.value.retry_after >= 1


def test_validation_errors_are_not_retried(qbo_client: QBOClient, emulator: t.Any, sleeps: list[float]) -> None:
    emulator.faults.fail_next(n=1, status=400, code="6000", message="Business rule")
    with pytest.raises(QBOValidationError) as info:
        qbo_client.company_info()
    assert info.value.message == "Business rule" and sleeps == []


def test_non_json_error_body_is_still_classified(qbo_client: QBOClient) -> None:
    class Html:
        status_code = 502
        headers = {"intuit_tid": "t-9"}
        text = "<html><body>Bad   gateway</body></html>"
        content = text.encode()

    error = faults.error_from_response(Html())  # type: ignore[arg-type]
    assert isinstance(error, QBOTransientError) and error.intuit_tid == "t-9"
    assert "Bad gateway" in error.message and isinstance(error, QBOAPIError)


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("status,cls", [(200, QBOAPIError), (500, QBOTransientError)])
def test_a_deeply_nested_answer_is_an_api_error_not_a_recursion_error(
    qbo_client: QBOClient, recorder: t.Any, status: int, cls: type
) -> None:
    """Python's JSON parser recurses per level: a body nested 100,000 deep raised RecursionError."""

    def deepen(request: t.Any, response: t.Any) -> None:
        response.status_code, response._content = status, DEEP

    recorder.after = deepen
    with pytest.raises(cls) as info:
        qbo_client.company_info()
    assert info.value.status == status
