"""Fault bodies in XML and plain text, throttle messages, and the two meanings of 610.

Bodies are written from public sources, cited on each: Intuit's "handling common
errors" page (developer.intuit.com, QBO docs, troubleshooting), the Ruby client's
fixtures (ruckus/quickbooks-ruby ``spec/fixtures/*.xml``), a fault quoted in
intuit/QuickBooks-V3-PHP-SDK issue #110 and the README of minimul/qbo_api.
"""

from __future__ import annotations

import typing as t

import pytest

from flask_qbo.errors import QBOAuthError
from flask_qbo.errors import QBODuplicateNameError
from flask_qbo.errors import QBOInactiveReferenceError
from flask_qbo.errors import QBONotFoundError
from flask_qbo.errors import QBORateLimitError
from flask_qbo.errors import QBOTransientError
from flask_qbo.errors import QBOValidationError
from flask_qbo.intuit import faultbody
from flask_qbo.intuit import faults
from flask_qbo.intuit.client import QBOClient
from flask_qbo.models import Connection
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from tests.intuit.test_client import RecordingAdapter
from tests.intuit.test_client import record

#: ruckus/quickbooks-ruby spec/fixtures/throttle_exceeded_error.xml: the old-style throttle, answered as a 403.
THROTTLE_403_XML = b"""<IntuitResponse time="2016-10-27T15:07:56.120-07:00" xmlns="http://schema.intuit.com/finance/v3">
  <Fault type="SERVICE">
    <Error code="3001">
      <Message>message=ThrottleExceeded; errorCode=003001; statusCode=403</Message>
      <Detail>The request limit was reached.  Try again later</Detail>
    </Error>
  </Fault>
</IntuitResponse>
"""

#: ruckus/quickbooks-ruby spec/fixtures/fault.xml: a bare <Fault>, no namespace, two errors.
BARE_FAULT_XML = b"""<Fault type="ValidationFault">
  <Error code="101">
    <Message>Length of the field exceeds 21 chars</Message>
  </Error>
  <Error code="201">
    <Message>ZipCode should be a number with at least 5 digits</Message>
  </Error>
</Fault>
"""

#: intuit/QuickBooks-V3-PHP-SDK issue #110: 2500 with the "made inactive" detail, in XML.
INACTIVE_2500_XML = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse '
    b'xmlns="http://schema.intuit.com/finance/v3" time="2018-01-08T03:44:20.887-08:00"><Fault type="ValidationFault">'
    b'<Error code="2500" element=""><Message>Invalid Reference Id</Message><Detail>Invalid Reference Id : Something '
    b"you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or "
    b"employees.</Detail></Error></Fault></IntuitResponse>"
)

#: The same fault with a prefixed namespace, as JAXB-based servers write it.
PREFIXED_XML = (
    b'<ns2:IntuitResponse xmlns:ns2="http://schema.intuit.com/finance/v3"><ns2:Fault type="ValidationFault">'
    b'<ns2:Error code="610" element="SalesTermRef"><ns2:Message>Object Not Found</ns2:Message>'
    b"<ns2:Detail>Object Not Found : Something you're trying to use has been made inactive.</ns2:Detail>"
    b"</ns2:Error></ns2:Fault></ns2:IntuitResponse>"
)

#: "Billion laughs": entities declared in a DTD.  Must not be expanded (nor parsed at all).
LAUGHS_XML = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b']><Fault type="x"><Error code="3001"><Message>&lol9;</Message></Error></Fault>'
)

#: minimul/qbo_api README: the inactive-reference 610, in JSON.
INACTIVE_610 = {
    "Fault": {
        "Error": [
            {
                "Message": "Object Not Found",
                "Detail": "Object Not Found : Something you're trying to use has been made inactive. "
                "Check the fields with accounts, customers, items, vendors or employees.",
                "code": "610",
                "element": "",
            }
        ],
        "type": "ValidationFault",
    },
    "time": "2018-01-03T13:06:31.406-08:00",
}

#: Intuit's "Top QuickBooks Online API errors" (2017): the other 610, an object deleted meanwhile.
DELETED_610 = {
    "Fault": {
        "Error": [
            {
                "Message": "Object Not Found",
                "Detail": "Object Not Found : Another user has deleted this transaction.",
                "code": "610",
                "element": "",
            }
        ],
        "type": "ValidationFault",
    }
}


class Response:
    """The parts of a ``requests.Response`` that :func:`faults.error_from_response` reads."""

    def __init__(self, status: int, content: bytes) -> None:
        self.status_code, self.content = status, content
        self.text = content.decode("utf-8", "replace")
        self.headers = {"intuit_tid": "tid-x"}


def from_response(status: int, content: bytes) -> t.Any:
    return faults.error_from_response(Response(status, content))  # type: ignore[arg-type]


def test_an_old_style_throttle_403_in_xml_is_a_rate_limit_with_its_fields() -> None:
    error = from_response(403, THROTTLE_403_XML)
    assert type(error) is QBORateLimitError
    assert (error.code, error.fault_type, error.status) == ("3001", "SERVICE", 403)
    assert error.message == "message=ThrottleExceeded; errorCode=003001; statusCode=403"
    assert error.detail == "The request limit was reached.  Try again later"


def test_a_bare_xml_fault_keeps_every_error() -> None:
    error = from_response(400, BARE_FAULT_XML)
    assert type(error) is QBOValidationError
    assert error.code == "101" and error.fault_type == "ValidationFault"
    assert [e["code"] for e in error.errors] == ["101", "201"]
    assert error.errors[1]["message"] == "ZipCode should be a number with at least 5 digits"


def test_namespaced_and_prefixed_xml_faults_parse_alike() -> None:
    error = from_response(400, PREFIXED_XML)
    assert type(error) is QBOInactiveReferenceError
    assert (error.code, error.element, error.message) == ("610", "SalesTermRef", "Object Not Found")
    assert faults.referenced_field(error) == "SalesTermRef"
    assert type(from_response(400, INACTIVE_2500_XML)) is QBOInactiveReferenceError


def test_xml_with_a_doctype_is_never_parsed() -> None:
    assert faultbody.from_xml(LAUGHS_XML) is None
    error = from_response(400, LAUGHS_XML)
    assert error.code is None and "lol" in error.message and len(error.message) < 300


def test_oversized_xml_is_not_parsed() -> None:
    padding = b"<!--" + b"x" * faultbody.MAX_XML_BYTES + b"-->"
    assert faultbody.from_xml(BARE_FAULT_XML.replace(b"</Fault>", padding + b"</Fault>")) is None
    assert faultbody.from_xml(BARE_FAULT_XML) is not None


@pytest.mark.parametrize(
    ("status", "text", "code", "cls"),
    [
        (403, b"message=ThrottleExceeded; errorCode=003001; statusCode=403", "3001", QBORateLimitError),
        (429, b"message=ThrottleExceeded; errorCode=003001; statusCode=429\n", "3001", QBORateLimitError),
        (401, b"message=AuthenticationFailed; errorCode=003200; statusCode=401", "3200", QBOAuthError),
        # An HTML page is no fault: its "throttled" is not Intuit's (see test_fault_secrets).
        (403, b"<html><body><h1>403</h1>Request throttled, slow down</body></html>", None, QBOAuthError),
        (502, b"<html><body>Bad gateway</body></html>", None, QBOTransientError),
    ],
)
def test_plain_text_faults(status: int, text: bytes, code: str | None, cls: type) -> None:
    error = from_response(status, text)
    assert type(error) is cls and error.code == code


def test_a_throttle_message_wins_over_the_gateway_code_and_status() -> None:
    body = {
        "fault": {
            "error": [{"message": "message=ThrottleExceeded; errorCode=003200; statusCode=401", "code": "3200"}],
            "type": "SERVICE",
        }
    }
    assert type(faults.error_from_body(401, body)) is QBORateLimitError


def test_a_validation_fault_quoting_throttle_keeps_its_class() -> None:
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": "Duplicate Name Exists Error",
                    "Detail": "The name supplied already exists. : Throttle Valves Ltd",
                    "code": "6240",
                }
            ]
        }
    }
    assert type(faults.error_from_body(400, body)) is QBODuplicateNameError


def test_610_has_two_meanings_told_apart_by_the_detail() -> None:
    inactive = faults.error_from_body(400, INACTIVE_610)
    deleted = faults.error_from_body(400, DELETED_610)
    assert type(inactive) is QBOInactiveReferenceError and not isinstance(inactive, QBONotFoundError)
    assert isinstance(inactive, QBOValidationError) and inactive.code == "610"
    assert type(deleted) is QBONotFoundError
    assert faults.referenced_field(inactive) is None


def test_a_named_reference_field_is_found_in_the_detail() -> None:
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": "Invalid Reference Id",
                    "Detail": "Invalid Reference Id : Line.SalesItemLineDetail.ItemRef",
                    "code": "2500",
                }
            ]
        }
    }
    assert faults.referenced_field(faults.error_from_body(400, body)) == "Line.SalesItemLineDetail.ItemRef"


def test_the_client_retries_an_xml_throttle_403(app: t.Any, emulator: t.Any, connected: Connection) -> None:
    """The backoff path takes it: retried like a 429, then answered; the connection stays connected."""
    recorder: RecordingAdapter = record(app, emulator)
    answers = [THROTTLE_403_XML]

    def throttle_once(request: t.Any, response: t.Any) -> None:
        if answers and "/companyinfo/" in (request.url or ""):
            response.status_code, response._content = 403, answers.pop()
            response.headers["Content-Type"] = "application/xml"

    recorder.after = throttle_once
    with app.app_context():
        client: QBOClient = get_qbo(app).client(connected)
        slept: list[float] = []
        client.sleep = slept.append
        info = client.company_info()
        assert info["CompanyName"]
        assert client.stats["retries"] == 1 and len(slept) == 1
        assert client.auth.connection.status == "connected"


def test_a_read_keeps_610_as_not_found_whatever_the_detail() -> None:
    """QBO answers a GET of a missing object with the same "made inactive" words; a read sends no reference."""
    assert type(faults.error_from_body(400, INACTIVE_610, read=True)) is QBONotFoundError


def test_the_client_maps_a_missing_read_and_an_inactive_write_apart(
    app: t.Any, emulator: t.Any, connected: Connection
) -> None:
    term = emulator.store.create(TEST_REALM, "Term", {"Name": "Net 19", "DueDays": 19})
    with app.app_context():
        client: QBOClient = get_qbo(app).client(connected)
        client.sleep = lambda seconds: None
        with pytest.raises(QBONotFoundError):
            client.read("Customer", "999")
        client.sparse_update("Term", {"Id": term["Id"], "SyncToken": term["SyncToken"], "Active": False})
        with pytest.raises(QBOInactiveReferenceError) as info:
            client.create("Customer", {"DisplayName": "On an inactive term", "SalesTermRef": {"value": term["Id"]}})
        # Intuit's words only, as QBO answers: neither the term nor the field is named.
        assert info.value.detail == INACTIVE_610["Fault"]["Error"][0]["Detail"]
        assert faults.referenced_object(info.value) is None


def test_a_record_named_in_the_detail_is_found() -> None:
    body = {
        "Fault": {
            "Error": [{"Message": "Object Not Found", "Detail": "x has been made inactive (Item id 12)", "code": "610"}]
        }
    }
    assert faults.referenced_object(faults.error_from_body(400, body)) == ("Item", "12")
    assert faults.referenced_object(faults.error_from_body(400, DELETED_610)) is None


def test_a_token_quoted_in_a_gateway_detail_never_reads_as_throttled() -> None:
    body = {
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": "Token expired: throttleAB01",
                    "code": "3200",
                }
            ],
            "type": "AUTHENTICATION",
        }
    }
    assert type(faults.error_from_body(401, body)) is QBOAuthError
