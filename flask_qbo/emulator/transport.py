"""A ``requests`` adapter that calls a WSGI app directly: HTTP without sockets.

Tests mount it on the emulator's origin (and on a CRM's origin to deliver
webhooks in-process), so the real client code, including ``requests`` redirect
and cookie handling, runs unchanged and fast. Injected network failures are
signalled by the emulator with a private response header and raised here as
the exceptions ``requests`` would raise over a real connection.
"""

from __future__ import annotations

import io
import time
import typing as t
from collections.abc import Iterable
from collections.abc import Mapping
from http.client import HTTPMessage
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3 import HTTPHeaderDict
from urllib3.response import HTTPResponse
from werkzeug.test import EnvironBuilder
from werkzeug.test import run_wsgi_app

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from _typeshed.wsgi import WSGIEnvironment

#: What ``requests`` passes as a timeout: one number, or (connect, read).
Timeout = float | tuple[float, float] | tuple[float, None] | None

#: Response header the emulator uses to ask the adapter to simulate a network failure.
FAULT_HEADER = "X-Emulator-Network-Fault"
#: WSGI environ key that tells the emulator the call is in-process.
INPROCESS_KEY = "flask_qbo.emulator.inprocess"


class _OriginalResponse:
    """Just enough of ``http.client.HTTPResponse`` for cookie extraction."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.msg = HTTPMessage()
        for name, value in headers:
            self.msg[name] = value

    def isclosed(self) -> bool:
        return True


def _read_timeout(timeout: Timeout) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[1]
    return timeout


def _body_bytes(body: object) -> bytes:
    """A prepared request's body as bytes.

    ``requests`` leaves file objects and iterables (streamed uploads) in
    ``PreparedRequest.body`` as they were given, whatever its annotation says.
    """
    if hasattr(body, "read"):
        body = body.read()
    elif body is not None and not isinstance(body, (bytes, str)):
        body = b"".join(
            chunk if isinstance(chunk, bytes) else str(chunk).encode() for chunk in t.cast(Iterable[object], body)
        )
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    return b""


class WSGIAdapter(BaseAdapter):
    """Send ``requests`` traffic to ``wsgi_app`` in the calling thread."""

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        super().__init__()
        self.app = wsgi_app

    def _environ(self, request: requests.PreparedRequest) -> WSGIEnvironment:
        parts = urlsplit(request.url or "")
        body = _body_bytes(request.body)
        headers = dict(request.headers)
        builder = EnvironBuilder(
            path=parts.path or "/",
            base_url=f"{parts.scheme}://{parts.netloc}",
            query_string=parts.query,
            method=request.method or "GET",
            headers=list(headers.items()),
            data=body,
            content_type=headers.get("Content-Type"),
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        # EnvironBuilder would otherwise percent-decode twice on odd paths; keep the raw path.
        environ["RAW_URI"] = environ["REQUEST_URI"] = parts.path + (f"?{parts.query}" if parts.query else "")
        environ[INPROCESS_KEY] = True
        return environ

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        started = time.monotonic()
        try:
            app_iter, status, headers = run_wsgi_app(self.app, self._environ(request), buffered=True)
        except Exception as exc:  # the app crashed: a real server would drop the connection
            raise requests.exceptions.ConnectionError(f"WSGI app raised {exc!r}", request=request) from exc
        try:
            data = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close:
                close()
        header_list = list(headers.items())
        network_fault = headers.get(FAULT_HEADER)
        if network_fault == "timeout":
            raise requests.exceptions.ReadTimeout("Read timed out (injected by the emulator)", request=request)
        if network_fault == "disconnect":
            raise requests.exceptions.ConnectionError("Connection aborted (injected by the emulator)", request=request)
        limit = _read_timeout(timeout)
        if limit is not None and time.monotonic() - started > limit:
            raise requests.exceptions.ReadTimeout(f"Read timed out. (read timeout={limit})", request=request)
        code_text = str(status)
        code = int(code_text.split(" ", 1)[0])
        reason = code_text.split(" ", 1)[1] if " " in code_text else ""
        raw = HTTPResponse(
            body=io.BytesIO(data),
            headers=HTTPHeaderDict(header_list),
            status=code,
            reason=reason,
            preload_content=False,
            decode_content=False,
            # only .msg and .isclosed() of http.client.HTTPResponse are read (by cookie extraction)
            original_response=_OriginalResponse(header_list),  # type: ignore[arg-type]
        )
        response = requests.Response()
        response.status_code = code
        response.headers = CaseInsensitiveDict(headers.items())
        encoding = get_encoding_from_headers(response.headers)
        if encoding is not None:  # a new Response's encoding is already None
            response.encoding = encoding
        response.raw = raw
        response.reason = reason
        response.url = request.url or ""
        response.request = request
        # the stubs name HTTPAdapter; requests only needs an adapter's send() here (digest auth resends)
        response.connection = self  # type: ignore[assignment]
        # types-requests leaves extract_cookies_to_jar unannotated
        extract_cookies_to_jar(response.cookies, request, raw)  # type: ignore[no-untyped-call]
        if not stream:
            _ = response.content
        return response

    def close(self) -> None:
        """Nothing to release: there is no connection pool."""
