"""The conformance corpus: QBO payloads as Intuit documents them, and the facts each one carries.

Every file under ``payloads/<kind>/`` is one case, written from Intuit's
documentation, its SDKs' test suites or a public capture, never copied from
them.  A case file is a JSON object with:

* ``_source``: where the shape comes from (a URL, or repository and path);
* ``payload``: the body as QBO sends it (a webhook notification, an entity
  answer, a fault, a CDC page);
* ``expect``: the facts our parsers must read from it (see each test module).

A fault whose body is not JSON keeps the body in a file of its own (``.xml`` or
``.txt``, named by ``body_file``) next to its case file, which also gives the
HTTP ``status`` and ``content_type`` it came with.

To add a payload: drop a new case file in the right folder with its
``_source`` and ``expect``; the tests of that kind pick it up by name.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from pathlib import Path

ROOT = Path(__file__).parent / "payloads"
KINDS = ("webhooks_legacy", "webhooks_cloudevents", "entities", "faults", "cdc")


@dataclasses.dataclass(frozen=True)
class Case:
    """One corpus payload with its provenance and the facts it must yield."""

    kind: str
    name: str
    source: str
    expect: dict[str, t.Any]
    #: The parsed JSON body (``None`` for an XML or text fault).
    payload: t.Any
    #: The body exactly as it would come over the wire.
    body: bytes
    status: int | None = None
    content_type: str = "application/json"
    #: The HTTP method of the request the payload answered (a 610 reads differently on a GET).
    method: str = "POST"

    def __str__(self) -> str:  # pytest ids
        return self.name


def _load(kind: str, path: Path) -> Case:
    data = json.loads(path.read_text(encoding="utf-8"))
    source = data.get("_source")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"{path} does not cite its public source in '_source'")
    if "body_file" in data:
        body = (path.parent / data["body_file"]).read_bytes()
        payload = None
    else:
        payload = data["payload"]
        body = json.dumps(payload).encode("utf-8")
    return Case(
        kind=kind,
        name=path.stem,
        source=source,
        expect=data.get("expect", {}),
        payload=payload,
        body=body,
        status=data.get("status"),
        content_type=data.get("content_type", "application/json"),
        method=data.get("method", "POST"),
    )


def cases(kind: str) -> list[Case]:
    """Every case of one kind, in file-name order."""
    if kind not in KINDS:
        raise ValueError(f"unknown corpus kind {kind!r}; expected one of {KINDS}")
    return [_load(kind, path) for path in sorted((ROOT / kind).glob("*.json"))]


def case(kind: str, name: str) -> Case:
    """One case by file stem (``case("entities", "invoice.full")``)."""
    return _load(kind, ROOT / kind / f"{name}.json")


def entity(name: str) -> tuple[str, dict[str, t.Any]]:
    """``(entity name, object)`` of an ``entities`` case, unwrapped from its ``{"Invoice": ...}`` envelope."""
    payload = case("entities", name).payload
    ((entity_name, obj),) = ((k, v) for k, v in payload.items() if k != "time")
    return entity_name, obj
