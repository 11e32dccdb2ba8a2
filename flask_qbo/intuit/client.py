"""``QBOClient``: the one place that talks HTTP to the QBO Accounting API.

Everything sync code should not have to think about happens here: the bearer
token (refreshed before it expires, and once more when QBO says 401),
``minorversion`` on every call, a ``requestid`` on every write so a retried
create can never make a duplicate, Intuit's Fault bodies turned into
:mod:`flask_qbo.errors` classes (:mod:`flask_qbo.intuit.faults`), retries with
exponential backoff and full jitter for transient failures, and a per-realm
:class:`~flask_qbo.intuit.throttle.Throttle` so many threads (or workers) share QBO's
limits instead of tripping them.

HTTP goes through the ``requests.Session`` handed in, which is the transport
seam: :meth:`flask_qbo.state.AppState.http_session` mounts the in-process emulator on it
in tests, so no socket is opened.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random
import re
import threading
import time
import typing as t
import uuid
from urllib.parse import quote as url_quote

import requests

from .. import signals
from ..errors import QBOAPIError
from ..errors import QBOConfigError
from ..errors import QBORateLimitError
from ..errors import QBOTransientError
from . import faults
from . import ids
from .jsonbody import JSONInputError
from .jsonbody import load_json
from .query import count_statement
from .query import has_paging
from .query import paged
from .throttle import Throttle

#: Largest page QBO returns for a query.
MAX_RESULTS = 1000
#: Longest statement sent in the query URL.  A longer one (an ``Id IN`` list of a
#: thousand ids is about 13 KB, more once URL-encoded) goes in a POST body, as QBO
#: accepts, because proxies and servers commonly refuse URLs over 8 KB.
MAX_GET_STATEMENT = 2000
#: Largest number of items in one batch request.
BATCH_LIMIT = 30
#: Longest ``Retry-After`` honoured, in seconds: QBO's limits are per minute, so a
#: larger value is bogus and would only park the worker thread.
MAX_RETRY_AFTER = 60.0

_ENTITY = re.compile(r"^[A-Za-z]+$")

log = logging.getLogger(__name__)


class TokenSource(t.Protocol):
    """What the client needs from authentication (see :class:`flask_qbo.intuit.auth.ConnectionAuth`)."""

    def token(self) -> str:
        """The access token to send now."""

    def refresh(self, rejected: str) -> str:
        """A replacement for an access token QBO answered 401 to."""

    def fail(self, reason: str) -> None:
        """Called when even a refreshed token is refused."""


class QBOClient:
    """A client for one QBO company (realm).

    :param auth: a :class:`TokenSource`.
    :param http: the ``requests.Session`` calls go through (the transport seam).
    :param throttle: shared per-realm limits; ``None`` sends without limiting.
    :param max_retries: extra attempts for a transient failure (429, 5xx, timeout).
    :param on_read: called with ``1`` after each successful metered read (data out).
    :param sleep: how to wait between retries; tests pass a recorder.
    """

    def __init__(
        self,
        realm_id: str,
        *,
        base_url: str,
        auth: TokenSource,
        http: requests.Session,
        minor_version: int = 75,
        throttle: Throttle | None = None,
        max_retries: int = 4,
        timeout: float = 30,
        on_read: t.Callable[[int], None] | None = None,
        sleep: t.Callable[[float], None] = time.sleep,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        try:
            self.realm_id = ids.realm_id(realm_id)
        except ValueError as exc:
            raise QBOConfigError(str(exc)) from None
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.http = http
        self.minor_version = minor_version
        self.throttle = throttle
        self.max_retries = max_retries
        self.timeout = timeout
        self.on_read = on_read
        self.sleep = sleep
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        #: Counts of ``reads``, ``writes``, ``requests`` (HTTP attempts), ``retries`` and ``refreshes``.
        self.stats: dict[str, int] = dict.fromkeys(("reads", "writes", "requests", "retries", "refreshes"), 0)
        #: ``intuit_tid`` of the last response, for support tickets.
        self.last_intuit_tid: str | None = None
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<QBOClient realm={self.realm_id} base_url={self.base_url!r}>"

    # -- entities ------------------------------------------------------------------

    def read(self, entity: str, id: str, include: str | None = None) -> dict[str, t.Any]:
        """The entity object (unwrapped from ``{"Customer": {...}}``); ``include`` e.g. ``invoiceLink``."""
        params = {"include": include} if include else None
        body = self._json(self._call("GET", f"{_path(entity)}/{_segment(id)}", params=params, kind="reads"))
        return _unwrap(body, entity)

    def create(self, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> dict[str, t.Any]:
        """Create an entity; ``request_id`` makes a repeat of the same create a no-op at QBO."""
        return self._write(entity, obj, request_id)

    def update(self, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> dict[str, t.Any]:
        """Full update: writable fields missing from ``obj`` are cleared by QBO."""
        return self._write(entity, {**obj, "sparse": False}, request_id)

    def sparse_update(self, entity: str, obj: dict[str, t.Any], request_id: str | None = None) -> dict[str, t.Any]:
        """Change only the fields in ``obj`` (which carries ``Id`` and ``SyncToken``)."""
        if "Id" not in obj or "SyncToken" not in obj:
            raise ValueError("sparse_update needs the object's Id and SyncToken.")
        return self._write(entity, {**obj, "sparse": True}, request_id)

    def delete(self, entity: str, id: str, sync_token: str, request_id: str | None = None) -> dict[str, t.Any]:
        """Delete a transaction (name-list entities are made inactive instead)."""
        obj = {"Id": str(id), "SyncToken": str(sync_token)}
        return self._write(entity, obj, request_id, params={"operation": "delete"})

    def void(self, entity: str, id: str, sync_token: str, request_id: str | None = None) -> dict[str, t.Any]:
        """Void a transaction: ``operation=void`` for invoices, ``include=void`` updates for the rest."""
        obj: dict[str, t.Any] = {"Id": str(id), "SyncToken": str(sync_token)}
        if entity.lower() == "invoice":
            return self._write(entity, obj, request_id, params={"operation": "void"})
        obj["sparse"] = True
        return self._write(entity, obj, request_id, params={"operation": "update", "include": "void"})

    def send(self, entity: str, id: str, to: str | None = None, request_id: str | None = None) -> dict[str, t.Any]:
        """E-mail a transaction (to ``to``, else its billing address); returns the updated entity."""
        resp = self._call(
            "POST",
            f"{_path(entity)}/{_segment(id)}/send",
            params={"sendTo": to} if to else None,
            data=b"",
            headers={"Content-Type": "application/octet-stream"},
            request_id=request_id or str(uuid.uuid4()),
            kind="writes",
        )
        return _unwrap(self._json(resp), entity)

    def company_info(self) -> dict[str, t.Any]:
        """The company's CompanyInfo (its id is the realm id)."""
        return self.read("CompanyInfo", self.realm_id)

    def preferences(self) -> dict[str, t.Any]:
        """The company's one Preferences object (``GET /preferences``: no id, never paged)."""
        return _unwrap(self._json(self._call("GET", "preferences", kind="reads")), "Preferences")

    def pdf(self, entity: str, id: str) -> requests.Response:
        """The transaction's PDF as a streamed response; the caller closes it."""
        return self._call(
            "GET", f"{_path(entity)}/{_segment(id)}/pdf", accept="application/pdf", stream=True, kind="reads"
        )

    # -- queries -------------------------------------------------------------------

    def query_page(self, stmt: str) -> dict[str, t.Any]:
        """Run one query statement and return its ``QueryResponse``."""
        return self.query_unparsed(stmt)()

    def query_unparsed(self, stmt: str) -> t.Callable[[], dict[str, t.Any]]:
        """Run one query statement; the function returned parses its ``QueryResponse`` (a fault raises there).

        The import's page threads fetch with this and its storing thread parses:
        pages waiting to be stored wait as bytes, and the threads contend less for
        the interpreter lock (a tenth less CPU per row).  Statements longer than
        :data:`MAX_GET_STATEMENT` are POSTed as the body (``Content-Type:
        application/text``); both forms are one metered read.
        """
        if len(stmt) > MAX_GET_STATEMENT:
            headers = {"Content-Type": "application/text"}
            resp = self._call("POST", "query", data=stmt.encode(), headers=headers, kind="reads")
        else:
            resp = self._call("GET", "query", params={"query": stmt}, kind="reads")
        return lambda: self._json(resp).get("QueryResponse") or {}

    def query(self, stmt: str, *, page_size: int = MAX_RESULTS) -> t.Iterator[dict[str, t.Any]]:
        """Every row of ``SELECT * FROM ...``, fetched a page at a time.

        Pages are requested with ``STARTPOSITION``/``MAXRESULTS``; a statement
        that already has either is run as the single page it asks for.  Use
        :func:`flask_qbo.intuit.query.quote` for string literals and add an ``ORDERBY`` when rows may
        change while paging.
        """
        if has_paging(stmt):
            yield from _rows(self.query_page(stmt))
            return
        page_size = max(1, min(page_size, MAX_RESULTS))
        start = 1
        while True:
            rows = _rows(self.query_page(paged(stmt, start, page_size)))
            yield from rows
            if len(rows) < page_size:
                return
            start += page_size

    def count(self, stmt: str) -> int:
        """``SELECT COUNT(*) FROM ...`` (a ``SELECT *`` statement is turned into one)."""
        return int(self.query_page(count_statement(stmt)).get("totalCount") or 0)

    def cdc(self, entities: t.Sequence[str], since: dt.datetime) -> dict[str, list[dict[str, t.Any]]]:
        """Objects of ``entities`` changed since ``since`` (deleted ones carry ``status: "Deleted"``).

        Keys are the entity names as given; every one is present, possibly empty.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        params = {"entities": ",".join(entities), "changedSince": since.isoformat(timespec="seconds")}
        body = self._json(self._call("GET", "cdc", params=params, kind="reads"))
        wanted = {name.lower(): name for name in entities}
        result: dict[str, list[dict[str, t.Any]]] = {name: [] for name in entities}
        for block in body.get("CDCResponse") or []:
            for response in block.get("QueryResponse") or []:
                for key, value in (response or {}).items():
                    if isinstance(value, list):
                        result.setdefault(wanted.get(key.lower(), key), []).extend(value)
        return result

    def batch(self, items: t.Sequence[dict[str, t.Any]], request_id: str | None = None) -> list[dict[str, t.Any]]:
        """Run batch items, 30 per call; returns one response per item, in order.

        Items look like ``{"operation": "create", "Customer": {...}}`` or
        ``{"Query": "select ..."}``; a missing ``bId`` is filled in.  A failed
        item comes back as ``{"bId": ..., "Fault": {...}}`` (see
        :func:`flask_qbo.intuit.faults.batch_error`) and never raises.  With
        ``request_id`` every chunk gets a stable id derived from it, so the
        whole call can be repeated safely.
        """
        prepared = [{"bId": str(i), **item} for i, item in enumerate(items)]
        results: list[dict[str, t.Any]] = []
        for n in range(0, len(prepared), BATCH_LIMIT):
            chunk = prepared[n : n + BATCH_LIMIT]
            chunk_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{request_id}:{n}") if request_id else uuid.uuid4())
            kind = "reads" if any("Query" in item for item in chunk) else "writes"
            body = {"BatchItemRequest": chunk}
            resp = self._call("POST", "batch", json=body, request_id=chunk_id, batch=True, kind=kind)
            answers = {str(a.get("bId")): a for a in self._json(resp).get("BatchItemResponse") or []}
            for item in chunk:
                results.append(answers.get(item["bId"]) or _missing_item(item["bId"]))
        return results

    # -- transport -----------------------------------------------------------------

    def _write(
        self, entity: str, obj: dict[str, t.Any], request_id: str | None, params: dict[str, str] | None = None
    ) -> dict[str, t.Any]:
        request_id = request_id or str(uuid.uuid4())
        resp = self._call("POST", _path(entity), params=params, json=obj, request_id=request_id, kind="writes")
        return _unwrap(self._json(resp), entity)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, t.Any] | None = None,
        json: t.Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        request_id: str | None = None,
        accept: str = "application/json",
        stream: bool = False,
        batch: bool = False,
        kind: str = "reads",
    ) -> requests.Response:
        """One logical call: throttled, authenticated, retried; raises mapped errors."""
        url = f"{self.base_url}/v3/company/{self.realm_id}/{path}"
        query = {**(params or {}), "minorversion": self.minor_version}
        if request_id:
            query["requestid"] = request_id  # the same id on every retry
        attempt, refreshed = 0, False
        while True:
            token = self.auth.token()
            send_headers = {"Authorization": f"Bearer {token}", "Accept": accept, **(headers or {})}
            error: QBOAPIError
            try:
                with self._slot(batch):
                    self._count("requests")
                    resp = self.http.request(
                        method,
                        url,
                        params=query,
                        json=json,
                        data=data,
                        headers=send_headers,
                        timeout=self.timeout,
                        stream=stream,
                    )
            except (requests.Timeout, requests.ConnectionError) as exc:
                error = faults.transient(f"No answer from QuickBooks ({type(exc).__name__}).")
                self._report(path, None, None)
            else:
                tid = resp.headers.get("intuit_tid")
                self.last_intuit_tid = tid or self.last_intuit_tid
                log.debug("QBO %s %s answered HTTP %d.", method, path, resp.status_code, extra=self._extra(tid))
                if resp.status_code < 400:
                    self._report(path, resp.status_code, None)
                    self._count(kind)
                    if kind == "reads" and self.on_read is not None:
                        self.on_read(1)
                    return resp
                error = faults.error_from_response(resp)
                self._report(path, resp.status_code, error.code)
                resp.close()
                # A throttle fault is never an expired token, whatever its status.
                if resp.status_code == 401 and not isinstance(error, QBORateLimitError):
                    if not refreshed:
                        refreshed = True
                        self._count("refreshes")
                        log.info(
                            "QBO %s %s refused the access token; refreshing it.", method, path, extra=self._extra(tid)
                        )
                        self.auth.refresh(token)
                        continue
                    self.auth.fail(f"QuickBooks refused a freshly refreshed token ({faults.brief(error)}).")
                    log.warning(
                        "QBO %s %s refused a refreshed token (%s).",
                        method,
                        path,
                        faults.brief(error),
                        extra=self._extra(error.intuit_tid),
                    )
                    raise error
            if isinstance(error, QBOTransientError) and attempt < self.max_retries:
                self._count("retries")
                delay = self._delay(attempt, error)
                log.info(
                    "QBO %s %s failed (%s); retry in %.1f s.",
                    method,
                    path,
                    faults.brief(error),
                    delay,
                    extra=self._extra(error.intuit_tid),
                )
                self.sleep(delay)
                attempt += 1
                continue
            # A transient failure that outlived its retries is the operator's; a refusal is the caller's to judge.
            level = logging.WARNING if isinstance(error, QBOTransientError) else logging.INFO
            log.log(
                level, "QBO %s %s failed (%s).", method, path, faults.brief(error), extra=self._extra(error.intuit_tid)
            )
            raise error

    def _extra(self, intuit_tid: str | None) -> dict[str, t.Any]:
        """The ``extra`` of the client's log records: the realm and Intuit's transaction id."""
        return {"qbo_realm": self.realm_id, "intuit_tid": intuit_tid}

    def _slot(self, batch: bool) -> t.ContextManager[None]:
        if self.throttle is None:
            return contextlib.nullcontext()
        return self.throttle.slot(self.realm_id, batch=batch)

    def _delay(self, attempt: int, error: QBOAPIError) -> float:
        """QBO's ``Retry-After`` when given, else full jitter over an exponential ceiling."""
        if isinstance(error, QBORateLimitError) and error.retry_after is not None:
            return min(error.retry_after, MAX_RETRY_AFTER)
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    def _report(self, path: str, status: int | None, code: str | None) -> None:
        """Announce one HTTP attempt (:data:`~flask_qbo.signals.qbo_request`) for the metrics layer."""
        entity = path.split("/", 1)[0]
        signals.qbo_request.send(
            signals.current_sender(), realm_id=self.realm_id, entity=entity, status=status, code=code
        )

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def _json(self, resp: requests.Response) -> dict[str, t.Any]:
        tid = resp.headers.get("intuit_tid")
        try:
            body = load_json(resp.content)
        except JSONInputError:
            raise QBOAPIError(
                "QuickBooks sent a response that is not JSON.", status=resp.status_code, intuit_tid=tid
            ) from None
        if isinstance(body, dict) and ("Fault" in body or "fault" in body):
            raise faults.error_from_body(resp.status_code, body, intuit_tid=tid)
        if not isinstance(body, dict):
            raise QBOAPIError("QuickBooks sent an unexpected JSON body.", status=resp.status_code, intuit_tid=tid)
        return body


def _path(entity: str) -> str:
    if not _ENTITY.match(entity or ""):
        raise ValueError(f"Not a QBO entity name: {entity!r}")
    return entity.lower()


def _segment(value: object) -> str:
    text = str(value)
    if not text:
        raise ValueError("An empty id cannot be used in a QBO URL.")
    return url_quote(text, safe="")


def _unwrap(body: dict[str, t.Any], entity: str) -> dict[str, t.Any]:
    for key, value in body.items():
        if key.lower() == entity.lower() and isinstance(value, dict):
            return value
    raise QBOAPIError(f"QuickBooks' response has no {entity} object.")


def _rows(page: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    for value in page.values():
        if isinstance(value, list):
            return value
    return []


def _missing_item(bid: str) -> dict[str, t.Any]:
    """A Fault for an item QBO did not answer, so callers still get one result per item."""
    error = {"Message": "No response for this batch item", "Detail": "", "code": "", "element": ""}
    return {"bId": bid, "Fault": {"type": "SystemFault", "Error": [error]}}
