"""Turn QBO's error responses into :mod:`flask_qbo.errors` exceptions.

QBO answers errors in two envelopes.  The API layer sends an upper-case
``{"Fault": {"Error": [{"Message", "Detail", "code", "element"}], "type"}}``;
the gateway in front of it answers 401/403 with a lower-case
``{"fault": {"error": [{"message", "detail", "code", "element"}], "type"}}``
plus a dozen null fields.  Older answers, and the gateway's, may also be XML
``<Fault>`` documents or plain ``message=…; errorCode=…`` text
(:mod:`flask_qbo.intuit.faultbody`).  Sync code must not care which one
arrived, so all are normalised here and classified by Intuit's error code
first and the HTTP status second (a 5010 is stale whatever the status; an
unknown code on a 503 is still transient), with two readings of the text on
top:

* a fault whose message says the request was throttled (``ThrottleExceeded``,
  "The request limit was reached") is a :class:`~flask_qbo.errors.QBORateLimitError`
  whatever its status and gateway code: an old-style throttle answers 403, and
  retrying with backoff is what cures it;
* a 610 (or 2500) whose detail says something "has been made inactive" is a
  reference to an inactive record, :class:`~flask_qbo.errors.QBOInactiveReferenceError`,
  not the missing object a plain 610 means (Intuit's "handling common errors"
  page lists both meanings of 610, told apart by the detail).

Kept apart from :mod:`flask_qbo.intuit.client` so the mapping can be read, and
tested, as one table.
"""

from __future__ import annotations

import email.utils
import re
import time
import typing as t

from ..errors import QBOAPIError
from ..errors import QBOAuthError
from ..errors import QBODuplicateNameError
from ..errors import QBOInactiveReferenceError
from ..errors import QBONotFoundError
from ..errors import QBORateLimitError
from ..errors import QBOStaleObjectError
from ..errors import QBOTransientError
from ..errors import QBOValidationError
from . import faultbody
from .jsonbody import JSONInputError
from .jsonbody import load_json

if t.TYPE_CHECKING:
    import requests

#: Intuit codes whose meaning does not depend on the HTTP status.
CODE_CLASSES: dict[str, type[QBOAPIError]] = {
    "6240": QBODuplicateNameError,
    "5010": QBOStaleObjectError,
    "610": QBONotFoundError,
    "3001": QBORateLimitError,
    "3200": QBOAuthError,
    "3100": QBOAuthError,
    "120": QBOAuthError,
}

#: HTTP statuses that decide the class when the code is not in :data:`CODE_CLASSES`.
STATUS_CLASSES: dict[int, type[QBOAPIError]] = {
    401: QBOAuthError,
    403: QBOAuthError,
    404: QBONotFoundError,
    429: QBORateLimitError,
}

#: Intuit's words for a throttled request, in a fault's message.
_THROTTLED = re.compile(r"throttl|request limit (?:was|has been) reached|too many requests", re.IGNORECASE)
#: Codes whose text may say "throttled": none (a proxy's page) or the gateway's own.
#: Other faults can quote the caller's data (a customer named "Throttle Valves")
#: and keep their code's class.
_GATEWAY_CODES = frozenset({None, "3001", "3100", "3200"})
#: Intuit's detail for a reference to an inactive record: "Object Not Found :
#: Something you're trying to use has been made inactive. Check the fields with
#: accounts, customers, items, vendors or employees." (610, and 2500 "Invalid
#: Reference Id" with the same words).
_INACTIVE = re.compile(r"\bmade inactive\b|\bis inactive\b", re.IGNORECASE)
_INACTIVE_CODES = frozenset({"610", "2500"})
#: A reference field named by ``element`` or the detail: ``SalesTermRef``, ``Line.SalesItemLineDetail.ItemRef``.
_REF_FIELD = re.compile(r"\b((?:[A-Z][A-Za-z]*\.)*[A-Z][A-Za-z]*Ref)\b")
#: A record named by entity and id in a detail (``… (Term 3)``, ``Item id 12``).
_REF_OBJECT = re.compile(
    r"\b(Term|PaymentMethod|Customer|Item|Account|Vendor|Employee|Class|Department|TaxCode)\s+(?:id\s*[:=#]?\s*)?([0-9]{1,32})\b"
)

#: ``Retry-After`` as delta-seconds, in ASCII digits (``str.isdigit`` also takes
#: superscript digits, which ``float`` refuses).
_DELTA_SECONDS = re.compile(r"[0-9]+\.?[0-9]*|\.[0-9]+")


def normalise_code(code: object) -> str | None:
    """``"003200"`` and ``3200`` both become ``"3200"``; ``None`` stays ``None``."""
    if code is None or code == "":
        return None
    text = str(code).strip()
    return text.lstrip("0") or "0" if text.isdigit() else text


def parse_fault(body: object) -> tuple[str | None, list[dict[str, t.Any]]]:
    """Return ``(fault type, errors)`` from either envelope; errors use lower-case keys.

    A body that is not a fault gives ``(None, [])``.
    """
    if not isinstance(body, dict):
        return None, []
    fault = body.get("Fault") or body.get("fault")
    if not isinstance(fault, dict):
        return None, []
    raw_errors = fault.get("Error") or fault.get("error") or []
    if isinstance(raw_errors, dict):
        raw_errors = [raw_errors]
    errors = []
    for item in raw_errors:
        if not isinstance(item, dict):
            continue
        errors.append(
            {
                "message": item.get("Message") or item.get("message") or "",
                "detail": item.get("Detail") or item.get("detail") or "",
                "code": normalise_code(item.get("code") or item.get("Code")),
                "element": item.get("element") or item.get("Element") or None,
            }
        )
    return fault.get("type") or fault.get("Type"), errors


def classify(
    status: int | None, code: str | None, message: str = "", detail: str = "", *, read: bool = False
) -> type[QBOAPIError]:
    """The exception class for an HTTP status, Intuit code and the fault's message and detail.

    Throttling is read from the fault's message only: a gateway's detail may
    quote the start of the token, and an excerpt of a page that is no fault
    (an HTML error page) is not passed here as a message at all.  ``read`` says the request only read (a GET): QBO
    answers a read of a missing object with the same "made inactive" detail,
    and a read sends no reference, so there the 610 keeps its "not found"
    meaning.
    """
    if code in _GATEWAY_CODES and _THROTTLED.search(message):
        return QBORateLimitError
    if code in _INACTIVE_CODES and not read and _INACTIVE.search(f"{message}\n{detail}"):
        return QBOInactiveReferenceError
    if code in CODE_CLASSES:
        return CODE_CLASSES[code]
    if status is not None:
        if status in STATUS_CLASSES:
            return STATUS_CLASSES[status]
        if status >= 500:
            return QBOTransientError
        if 400 <= status < 500:
            return QBOValidationError
    return QBOValidationError if code else QBOAPIError


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_body(
    status: int | None,
    body: t.Any,
    *,
    intuit_tid: str | None = None,
    retry_after: float | None = None,
    fallback_message: str | None = None,
    read: bool = False,
) -> QBOAPIError:
    """Build the exception for a fault body (or a non-fault error body); ``read`` as for :func:`classify`."""
    fault_type, errors = parse_fault(body)
    first = errors[0] if errors else {}
    code = first.get("code")
    message = first.get("message") or fallback_message or _status_message(status)
    # Only a fault's own message may say "throttled": an excerpt of any other page
    # (a proxy's 404 mentioning "too many requests") is not Intuit speaking.
    cls = classify(status, code, first.get("message") or "", first.get("detail") or "", read=read)
    kwargs: dict[str, t.Any] = dict(
        status=status,
        code=code,
        detail=first.get("detail") or None,
        element=first.get("element") or None,
        intuit_tid=intuit_tid,
        fault_type=fault_type,
        errors=errors,
    )
    if issubclass(cls, QBORateLimitError):
        return cls(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def error_from_response(response: requests.Response) -> QBOAPIError:
    """The exception for a failed HTTP response from QBO, keeping ``intuit_tid``.

    The body may be a JSON fault, an XML ``<Fault>`` or plain text
    (:mod:`flask_qbo.intuit.faultbody`); anything else keeps a short excerpt as
    the message.
    """
    content = response.content or b""
    try:
        body = load_json(content)
    except JSONInputError:
        body = faultbody.from_xml(content) or faultbody.from_text(content)
    return error_from_body(
        response.status_code,
        body,
        intuit_tid=response.headers.get("intuit_tid"),
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        fallback_message=None if body is not None else _text_excerpt(response),
        read=getattr(getattr(response, "request", None), "method", None) == "GET",
    )


def batch_error(item: dict[str, t.Any], *, intuit_tid: str | None = None) -> QBOAPIError | None:
    """The exception a batch item's ``Fault`` stands for, or ``None`` when it succeeded.

    :meth:`~flask_qbo.intuit.client.QBOClient.batch` returns faults as dicts so one bad
    item never hides the others; callers use this to decide per item.
    """
    if "Fault" not in item and "fault" not in item:
        return None
    # Batch items carry no HTTP status; Intuit answers them as it would a 400.
    return error_from_body(400, item, intuit_tid=intuit_tid)


def transient(message: str, *, intuit_tid: str | None = None) -> QBOTransientError:
    """A transient error for failures with no response (timeouts, refused connections)."""
    return QBOTransientError(message, intuit_tid=intuit_tid)


def _status_message(status: int | None) -> str:
    return f"QuickBooks answered HTTP {status}" if status else "QuickBooks did not answer"


def _text_excerpt(response: requests.Response) -> str:
    """A short, single-line excerpt of a non-JSON error body (an HTML gateway page)."""
    text = " ".join((response.text or "").split())
    prefix = _status_message(response.status_code)
    return f"{prefix}: {text[:200]}" if text else prefix


def referenced_field(error: QBOAPIError) -> str | None:
    """The reference field a fault names (``SalesTermRef``...), in ``element`` or the detail; else ``None``."""
    for text in (error.element, error.detail):
        found = _REF_FIELD.search(text or "")
        if found:
            return found.group(1)
    return None


def referenced_object(error: QBOAPIError) -> tuple[str, str] | None:
    """The ``(entity, id)`` of a record the fault's detail names (``… (Term 3)``); else ``None``."""
    found = _REF_OBJECT.search(error.detail or "")
    return (found.group(1), found.group(2)) if found else None


def brief(error: BaseException) -> str:
    """Class, HTTP status and Intuit code of an error, for log records.

    Never its message or detail: an auth fault's detail can quote the start of
    the token.  Any exception is accepted (a token refresh fails with other
    errors too); only a :class:`~flask_qbo.errors.QBOAPIError` has a status and code.
    """
    status_code = error.status if isinstance(error, QBOAPIError) else None
    code = error.code if isinstance(error, QBOAPIError) else None
    status = f", HTTP {status_code}" if status_code else ""
    return f"{type(error).__name__}{status}, code {code}" if code else f"{type(error).__name__}{status}"
