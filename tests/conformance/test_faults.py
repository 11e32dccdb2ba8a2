"""Fault bodies in JSON (both envelopes), XML and plain text become the right error.

Each corpus fault is served as a ``requests.Response`` with the status and
content type it came with, and read by
:func:`flask_qbo.intuit.faults.error_from_response`, the one entry point the
client uses.  A key absent from a case's ``expect`` is not asserted; a key
present as ``null`` must read as ``None``.
"""

from __future__ import annotations

import pytest
import requests

from flask_qbo import errors
from flask_qbo.intuit.faults import error_from_response

from . import corpus

FAULTS = corpus.cases("faults")
THROTTLES = [case for case in FAULTS if b"ThrottleExceeded" in case.body]


def _response(case: corpus.Case) -> requests.Response:
    response = requests.Response()
    assert case.status is not None, f"{case.name} names no HTTP status"
    response.status_code = case.status
    response._content = case.body
    response.headers["Content-Type"] = case.content_type
    response.headers["intuit_tid"] = f"tid-{case.name}"
    response.encoding = "utf-8"
    response.request = requests.Request(case.method, "https://qbo.example/v3/company/1/invoice").prepare()
    return response


@pytest.mark.parametrize("case", FAULTS, ids=str)
def test_fault_reads_as_its_error(case: corpus.Case) -> None:
    error = error_from_response(_response(case))
    expect = case.expect
    assert isinstance(error, errors.QBOAPIError)
    assert error.status == case.status and error.intuit_tid == f"tid-{case.name}"
    if "class" in expect:
        assert type(error).__name__ == expect["class"], (type(error).__name__, error.code, str(error))
    for key in ("code", "detail", "element"):
        if key in expect:
            assert getattr(error, key) == expect[key], (key, getattr(error, key))
    if "message" in expect:
        assert error.message == expect["message"], error.message
    if "errors" in expect:
        assert len(error.errors) == expect["errors"]


@pytest.mark.parametrize("case", THROTTLES, ids=str)
def test_throttle_bodies_carry_no_auth_meaning(case: corpus.Case) -> None:
    """Whatever the status, a ThrottleExceeded body is a rate limit, never an auth failure to reconnect for."""
    error = error_from_response(_response(case))
    assert isinstance(error, errors.QBORateLimitError) and not isinstance(error, errors.QBOAuthError)


def test_the_corpus_covers_every_documented_fault_shape() -> None:
    kinds = {case.content_type.split(";")[0] for case in FAULTS}
    assert {"application/json", "application/xml", "text/plain"} <= kinds
    codes = {case.expect.get("code") for case in FAULTS}
    assert {"6000", "2020", "610", "3200", "3001", "10000"} <= codes
    assert any(
        case.status == 403 and case.content_type == "application/xml" and b"3001" in case.body for case in FAULTS
    )
    assert any(case.status == 500 for case in FAULTS)
    assert {case.status for case in THROTTLES} >= {403, 429}
