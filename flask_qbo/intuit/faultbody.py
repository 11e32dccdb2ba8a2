"""Fault bodies that are not JSON: Intuit's XML ``<Fault>`` and the gateway's plain text.

QBO answers JSON when asked, but some answers still come as XML (an old-style
throttle 403, anything sent with ``Accept: application/xml``), with or without
the ``http://schema.intuit.com/finance/v3`` namespace and the
``<IntuitResponse>`` wrapper::

    <IntuitResponse xmlns="http://schema.intuit.com/finance/v3">
      <Fault type="SERVICE">
        <Error code="3001">
          <Message>message=ThrottleExceeded; errorCode=003001; statusCode=403</Message>
          <Detail>The request limit was reached.  Try again later</Detail>
        </Error>
      </Fault>
    </IntuitResponse>

and a gateway in front of QBO may answer plain text in its
``message=…; errorCode=…; statusCode=…`` form.  Both are turned into the JSON
envelope (``{"Fault": {"type", "Error": [{"Message", "Detail", "code",
"element"}]}}``) so :mod:`flask_qbo.intuit.faults` classifies every shape with
one code path.

The XML comes from the network, so it is parsed with the standard library's
expat with two guards instead of a dependency (``defusedxml``): a body over
:data:`MAX_XML_BYTES` is not parsed at all, and any document type declaration
stops the parse.  Without a DTD no entity can be declared, so neither entity
expansion ("billion laughs") nor external entities can happen; Intuit's faults
never carry one.
"""

from __future__ import annotations

import re
import typing as t
import xml.parsers.expat as expat

#: Largest XML body parsed; Intuit's faults are a few hundred bytes.
MAX_XML_BYTES = 64 * 1024
#: How much of a text body is searched for the gateway's ``key=value`` fields.
MAX_TEXT_CHARS = 4096

_FIELD = re.compile(r"\b(message|errorcode|statuscode|detail)\s*=\s*([^;\r\n]*)", re.IGNORECASE)
#: Token-like text: a long run of token characters holding both letters and digits.
_TOKENISH = re.compile(r"(?=[\w.~+/=-]*\d)(?=[\w.~+/=-]*[A-Za-z])[\w.~+/=-]{20,}")


def _untokened(value: str) -> str:
    """A field's value with anything that looks like a token replaced."""
    return _TOKENISH.sub("[redacted]", " ".join(value.split()))


class _Refused(Exception):
    """The XML declares a document type: not parsed (see the module docstring)."""


def _refuse(*args: object) -> t.NoReturn:
    raise _Refused


class _Collector:
    """Gathers every ``<Fault>``'s type and its ``<Error>`` elements as expat reports them."""

    def __init__(self) -> None:
        self.path: list[str] = []
        self.fault_type: str | None = None
        self.faults = 0
        self.errors: list[dict[str, t.Any]] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local == "Fault":
            self.faults += 1
            if self.fault_type is None:
                self.fault_type = _attr(attrs, "type")
        elif local == "Error" and "Fault" in self.path:
            self.errors.append(
                {"Message": "", "Detail": "", "code": _attr(attrs, "code"), "element": _attr(attrs, "element")}
            )
        self.path.append(local)

    def end(self, name: str) -> None:
        self.path.pop()

    def text(self, data: str) -> None:
        if len(self.path) >= 2 and self.path[-2] == "Error" and self.path[-1] in ("Message", "Detail") and self.errors:
            self.errors[-1][self.path[-1]] += data


def _attr(attrs: dict[str, str], name: str) -> str | None:
    """An attribute by local name (a prefixed attribute comes as ``namespace name``)."""
    for key, value in attrs.items():
        if key.rsplit(" ", 1)[-1] == name:
            return value
    return None


def from_xml(data: bytes) -> dict[str, t.Any] | None:
    """The fault an XML body holds, in the JSON envelope; ``None`` when it is not an XML fault.

    Bodies over :data:`MAX_XML_BYTES`, with a document type declaration, or
    not well-formed are not faults we read (the caller falls back to text).
    """
    if not data or len(data) > MAX_XML_BYTES or b"<" not in data[:256]:
        return None
    collector = _Collector()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = collector.start
    parser.EndElementHandler = collector.end
    parser.CharacterDataHandler = collector.text
    try:
        parser.Parse(data, True)
    except (expat.ExpatError, _Refused, ValueError):
        return None
    if not collector.faults:
        return None
    errors = [
        {**error, "Message": error["Message"].strip(), "Detail": error["Detail"].strip()} for error in collector.errors
    ]
    return {"Fault": {"type": collector.fault_type, "Error": errors}}


def from_text(data: bytes) -> dict[str, t.Any] | None:
    """A plain-text fault in the gateway's ``message=…; errorCode=…`` form, in the JSON envelope.

    Any other text (an HTML error page, a proxy's one-liner) gives ``None``: it
    holds no code, and the caller keeps an excerpt of it as the message.  The
    message keeps the ``message``, ``errorCode`` and ``statusCode`` fields only
    (as in the gateway's JSON faults), never ``detail`` or the rest of the line:
    a gateway's detail can quote the start of the token, and the message is what
    gets shown and logged.
    """
    text = data[: MAX_TEXT_CHARS * 4].decode("utf-8", "replace")[:MAX_TEXT_CHARS].strip()
    fields = {key.lower(): value.strip() for key, value in _FIELD.findall(text)}
    if "message" not in fields and "errorcode" not in fields:
        return None
    message = "; ".join(
        f"{name}={_untokened(fields[key])}"
        for key, name in (("message", "message"), ("errorcode", "errorCode"), ("statuscode", "statusCode"))
        if key in fields
    )[:500]
    error = {"Message": message, "Detail": fields.get("detail", ""), "code": fields.get("errorcode"), "element": None}
    return {"Fault": {"type": None, "Error": [error]}}
