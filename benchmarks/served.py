"""QuickBooks in a process of its own, and the CRM on a port of its own, for benchmarks that time the CRM.

QuickBooks answers from other machines: its work never takes the CRM's CPU or
interpreter lock.  An emulator served from the benchmark's own process does,
and on a 2-core machine that bends what a benchmark says about the CRM.
:class:`ServedEmulator` serves the emulator from a forked child instead; the
benchmark fills it and connects its companies first, in this process, and
the child serves a copy of that.  :meth:`ServedEmulator.call` runs a function
on the child's emulator (edits "made in QuickBooks", its counters, its
webhook sender).  :class:`CRMServer` serves the host app over loopback from a
thread of this process, where QuickBooks' webhooks arrive as they would at a
CRM's web server.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import tempfile
import threading
import typing as t

import requests
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

from flask_qbo.testing import make_emulator

if t.TYPE_CHECKING:
    from flask import Flask

    from flask_qbo.emulator import Emulator


class _Quiet(WSGIRequestHandler):
    def log(self, *args: t.Any) -> None:
        """No line per request."""


class ServedEmulator:
    """An emulator listening on a free loopback port, served by a forked child from :meth:`serve` on.

    The socket is bound first, so the emulator knows its own URL.  Requests
    sent before :meth:`serve` wait in the socket's queue and are answered by
    the child.  Extra keyword arguments are the emulator's config (limits).
    """

    def __init__(self, **config: t.Any) -> None:
        self._server = make_server("127.0.0.1", 0, self._dispatch, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self.emu: Emulator = make_emulator(base_url=self.url, **config)
        self._child: multiprocessing.process.BaseProcess | None = None
        self._calls, self._child_calls = multiprocessing.Pipe()

    def _dispatch(self, environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]) -> t.Any:
        return self.emu.app(environ, start_response)

    def serve(self) -> None:
        """Fork the child that answers from now on; this process's copy of the emulator is left behind.

        Dispose of database connections first: the child gets a copy of every open socket.
        """
        child = multiprocessing.get_context("fork").Process(
            target=_serve, args=(self._server, self.emu, self._child_calls), daemon=True
        )
        child.start()
        self._child = child
        self._child_calls.close()
        self._server.socket.close()

    def call(self, func: t.Callable[..., t.Any], *args: t.Any) -> t.Any:
        """``func(emulator, *args)`` run in the child (``func`` must be a module-level function); its result."""
        self._calls.send((func, args))
        ok, value = self._calls.recv()
        if not ok:
            raise RuntimeError(f"the served emulator failed: {value}")
        return value

    def control(self, method: str, path: str) -> t.Any:
        """A call of the emulator's HTTP control API (``/_emulator/<path>``)."""
        return requests.request(method, f"{self.url}/_emulator/{path}", timeout=30).json()

    def stop(self) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.join()
            self._child = None


def _serve(server: t.Any, emu: Emulator, calls: multiprocessing.connection.Connection) -> None:
    """The child: answer HTTP on a thread, run the parent's calls on this one until the parent goes."""
    threading.Thread(target=server.serve_forever, name="emulator-server", daemon=True).start()
    while True:
        try:
            func, args = calls.recv()
        except EOFError:
            return
        try:
            calls.send((True, func(emu, *args)))
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            calls.send((False, f"{type(exc).__name__}: {exc}"))


class CRMServer:
    """``app`` served over HTTP on a free loopback port, from a thread of this process, until the block ends."""

    def __init__(self, app: t.Any) -> None:
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="crm-server", daemon=True)

    def __enter__(self) -> CRMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def crm_app(stack: contextlib.ExitStack, served: ServedEmulator, postgres: str | None, **config: t.Any) -> Flask:
    """The test host app on a scratch database, talking to ``served`` over HTTP.

    The database is a schema on ``postgres`` (created now, dropped when
    ``stack`` closes), else a SQLite file in a temporary folder.  The app has
    :func:`~flask_qbo.testing.attach_emulator`'s settings without its in-process
    transport; ``config`` adds to them.
    """
    from tests.hostapp import make_app
    from tests.pg import postgres_schema

    if postgres:
        url, _ = stack.enter_context(postgres_schema(postgres, prefix="qbo_bench"))
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='qbo-bench-')}/crm.sqlite"
    emu = served.emu
    return make_app(
        url,
        QBO_ENVIRONMENT="emulator",
        QBO_EMULATOR_URL=served.url,
        QBO_CLIENT_ID=emu.config.client_id,
        QBO_CLIENT_SECRET=emu.config.client_secret,
        QBO_WEBHOOK_VERIFIER_TOKEN=emu.config.webhook_verifier_token,
        **config,
    )
