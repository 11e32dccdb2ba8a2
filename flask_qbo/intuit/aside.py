"""One QBO read sent from a helper thread while the caller's thread sends another.

Two reads that do not depend on each other cost two round trips to Intuit
when they are sent one after the other; a new contact needs two such lookups
(by email and by name), alone (:mod:`flask_qbo.sync.push.create`) or in a
batch (:mod:`flask_qbo.sync.push.creates`).  :class:`Aside` sends one of them
from a helper thread, so both are in flight at once and the push waits for
one round trip.

The helper never touches the database: it sends the caller's access token of
the moment (:class:`~flask_qbo.intuit.auth.BorrowedToken`) and only counts its
metered reads.  The caller's client counts its own reads there too while the
block lasts, and records the sum once when it ends: each record is a write
transaction of its own, and a push batch's two lookups paid two.  A
read QBO refuses that token for is sent again by the caller's own client,
which refreshes the token as every call does.  The helper's requests take
slots of the realm's shared throttle like any other call.
"""

from __future__ import annotations

import concurrent.futures
import threading
import typing as t

from flask import Flask

from .app_client import realm_client
from .auth import BorrowedToken
from .auth import TokenRefused
from .client import QBOClient
from .oauth import app_or_current

if t.TYPE_CHECKING:
    from types import TracebackType

    from ..extension import QBO

T = t.TypeVar("T")


class Aside(t.Generic[T]):
    """``read(client)`` running on a helper thread for ``client``'s realm; :meth:`result` waits for it.

    Use as a context manager: leaving the block waits for the helper (so no
    request of a finished batch is still in flight) and records both threads'
    reads at once, whether or not the caller's own read failed.  :meth:`result`
    raises what the read raised, as if the caller had sent it.
    """

    def __init__(self, qbo: QBO, client: QBOClient, read: t.Callable[[QBOClient], T], *, app: Flask | None = None):
        self._app = app_or_current(app)
        self._client = client
        self._read = read
        self._reads = 0
        self._lock = threading.Lock()
        helper = realm_client(
            qbo, client.realm_id, BorrowedToken(client.auth.token()), app=self._app, on_read=self._count
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="qbo-aside")
        self._future = self._pool.submit(self._run, helper)
        self._meter, client.on_read = client.on_read, self._count  # the caller's reads, until the block ends

    def __enter__(self) -> Aside[T]:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._pool.shutdown(wait=True)
        self._client.on_read = self._meter
        with self._lock:
            reads, self._reads = self._reads, 0
        if reads and self._meter is not None:
            self._meter(reads)

    def result(self) -> T:
        """What the read returned; sent again on the caller's client if QBO refused the borrowed token."""
        try:
            return self._future.result()
        except TokenRefused:
            return self._read(self._client)

    def _count(self, reads: int) -> None:
        with self._lock:
            self._reads += reads

    def _run(self, helper: QBOClient) -> T:
        with self._app.app_context():
            return self._read(helper)
