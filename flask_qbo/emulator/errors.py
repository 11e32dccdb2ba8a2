"""Fault bodies exactly as QBO shapes them.

QBO has two error envelopes: the API layer's upper-case ``Fault`` and the
gateway's lower-case ``fault`` used for 401/403. Clients branch on both, so the
emulator reproduces each one byte-for-byte in structure. A client that asks
for XML (the PHP and Java SDKs do by default) gets the ``Fault`` inside an
``IntuitResponse`` document instead (:func:`fault_xml`).
"""

from __future__ import annotations

import time
import typing as t
from xml.etree import ElementTree

#: Intuit's Detail text for a duplicate name (6240).
DUPLICATE_NAME_DETAIL = (
    "The name supplied already exists. : Another customer, vendor or employee is "
    "already using this name. Please use a different name."
)
#: Intuit's 610 detail, the same for a missing object and for a reference to an inactive one.
NOT_FOUND_DETAIL = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
THROTTLE_MESSAGE = "message=ThrottleExceeded; errorCode=003001; statusCode=429"
THROTTLE_DETAIL = "The request limit was reached.  Try again later"
SYSTEM_FAULT_MESSAGE = "An application error has occurred while processing your request"
AUTH_MESSAGE = "message=AuthenticationFailed; errorCode=003200; statusCode=401"
AUTHZ_MESSAGE = "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403"


class EmulatorFault(Exception):
    """An error the emulator answers with a QBO Fault body.

    Raised by the store and the API layer alike, so Python callers get the same
    codes and messages an HTTP client would see. ``status`` 401 and 403 render
    the gateway's lower-case envelope; everything else the upper-case ``Fault``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str = "",
        element: str = "",
        fault_type: str = "ValidationFault",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}" if detail else f"{code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element
        self.fault_type = fault_type

    def fault(self) -> dict[str, t.Any]:
        """The inner ``Fault`` object (also used inside batch items)."""
        return {
            "Error": [
                {
                    "Message": self.message,
                    "Detail": self.detail,
                    "code": self.code,
                    "element": self.element,
                }
            ],
            "type": self.fault_type,
        }

    def body(self, time_str: str | None = None) -> dict[str, t.Any]:
        """The full JSON response body for this fault."""
        if self.status in (401, 403):
            return gateway_body(self.status, self.detail, self.code, self.message, self.fault_type)
        return {"Fault": self.fault(), "time": time_str or _utc_ms()}


#: Namespace of every v3 XML document.
XML_NAMESPACE = "http://schema.intuit.com/finance/v3"


def fault_xml(fault: EmulatorFault, time_str: str) -> bytes:
    """The upper-case ``Fault`` as QBO's XML answer: ``<IntuitResponse time=…><Fault type=…>``.

    Errors are ``<Error code=… element=…>`` with ``Message`` and ``Detail``
    children; ``element`` is left out when the fault names no field.
    """
    root = ElementTree.Element("IntuitResponse", {"xmlns": XML_NAMESPACE, "time": time_str})
    node = ElementTree.SubElement(root, "Fault", {"type": fault.fault_type})
    for error in fault.fault()["Error"]:
        attributes = {"code": error["code"]}
        if error["element"]:
            attributes["element"] = error["element"]
        entry = ElementTree.SubElement(node, "Error", attributes)
        ElementTree.SubElement(entry, "Message").text = error["Message"]
        ElementTree.SubElement(entry, "Detail").text = error["Detail"]
    document = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + ElementTree.tostring(
        root, encoding="unicode"
    )
    return document.encode("utf-8")


def _utc_ms() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def gateway_body(
    status: int,
    detail: str,
    code: str | None = None,
    message: str | None = None,
    fault_type: str | None = None,
) -> dict[str, t.Any]:
    """Lower-case envelope the Intuit gateway returns for 401 and 403."""
    if status == 403:
        code, message, kind = code or "3100", message or AUTHZ_MESSAGE, "SERVICE"
    else:
        code, message, kind = code or "3200", message or AUTH_MESSAGE, "AUTHENTICATION"
    if fault_type and fault_type not in ("ValidationFault",):
        kind = fault_type
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [{"message": message, "detail": detail, "code": code, "element": None}],
            "type": kind,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def unauthorized(detail: str) -> EmulatorFault:
    """401 AuthenticationFailed with the given detail (e.g. ``Token expired: …``)."""
    return EmulatorFault(401, "3200", AUTH_MESSAGE, detail, fault_type="AUTHENTICATION")


def forbidden(detail: str = "") -> EmulatorFault:
    """403 ApplicationAuthorizationFailed (token for another realm, or injected)."""
    return EmulatorFault(403, "3100", AUTHZ_MESSAGE, detail, fault_type="SERVICE")


def throttled() -> EmulatorFault:
    """429 with the upper-case SERVICE fault seen in Intuit's throttle fixtures."""
    return EmulatorFault(429, "3001", THROTTLE_MESSAGE, THROTTLE_DETAIL, fault_type="SERVICE")


def system_fault(status: int = 500, code: str = "10000", message: str | None = None) -> EmulatorFault:
    """Server-side failure (500/503)."""
    return EmulatorFault(
        status,
        code,
        message or SYSTEM_FAULT_MESSAGE,
        message or SYSTEM_FAULT_MESSAGE,
        fault_type="SystemFault",
    )


def not_found() -> EmulatorFault:
    """610 for a missing object, or a reference to an inactive one, in Intuit's words only.

    QBO's detail names neither the record nor the field: a client tells which
    reference it was from what it sent (see ``flask_qbo.sync.push.explain``).
    """
    return EmulatorFault(400, "610", "Object Not Found", NOT_FOUND_DETAIL)


def invalid_reference(element: str, ref_id: str) -> EmulatorFault:
    """2500 for a reference to an object that does not exist."""
    return EmulatorFault(
        400,
        "2500",
        "Invalid Reference Id",
        f"Invalid Reference Id : Names element id {ref_id} not found",
        element,
    )


def stale_object(user: str = "root") -> EmulatorFault:
    """5010 for an update carrying an old SyncToken."""
    return EmulatorFault(
        400,
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and {user} were working on this at the same time. "
        f"{user} finished before you did, so your work was not saved.",
    )


def duplicate_name() -> EmulatorFault:
    """6240 for a DisplayName already used by another name-list object."""
    return EmulatorFault(400, "6240", "Duplicate Name Exists Error", DUPLICATE_NAME_DETAIL, "DisplayName")


def too_long(element: str, limit: int) -> EmulatorFault:
    """2050 for a string longer than QBO allows."""
    return EmulatorFault(
        400,
        "2050",
        "String length is either shorter or longer than supported by specification",
        f"String length specified does not match the supported length. Min:0 Max:{limit} "
        f"supported. Supplied length:>{limit}",
        element,
    )


def required(element: str, detail: str | None = None) -> EmulatorFault:
    """2020 for a missing required element."""
    return EmulatorFault(
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        detail or f"Required parameter {element} is missing in the request",
        element,
    )


def business(detail: str, element: str = "", code: str = "6000") -> EmulatorFault:
    """6000 business validation errors (and related codes)."""
    return EmulatorFault(
        400,
        code,
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element,
    )


def unsupported(detail: str) -> EmulatorFault:
    """500 Unsupported Operation (a 400 response in QBO despite the code)."""
    return EmulatorFault(400, "500", "Unsupported Operation", detail)


def unknown_resource(path: str, url: str) -> EmulatorFault:
    """What QBO answers for a path (or method) none of its resources serves: 400, code 500."""
    return unsupported(f"Operation Could not find resource for relative : {path} of full path: {url} is not supported.")


def request_error(detail: str, element: str = "", code: str = "2010") -> EmulatorFault:
    """Malformed request (bad JSON, bad parameter)."""
    return EmulatorFault(400, code, "Request has invalid or unsupported property", detail, element)
