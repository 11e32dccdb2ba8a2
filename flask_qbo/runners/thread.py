"""How sync work runs: the embedded thread runner (``QBO_RUNNER = "thread"``).

Work is plain functions (``push.process``, ``pull.process``, ``pull.poll_due``,
``upkeep.upkeep``) that run inside an app context, so any runner can call them.
The thread runner is one daemon thread per app.  It sleeps on an event that
:func:`wake` sets after each commit that wrote outbox rows (and after each
webhook), so a push starts at once rather than on the next poll; between wake-ups
it wakes itself when a backed-off row becomes due and on the timers of the pull
side.  Every job is wrapped so one exception is logged and the thread lives on.

The outbox and the inbox take turns: each round runs one bounded step of each
(up to :data:`PUSH_CHUNK` outbox rows, then one batch of inbox events, read in
bulk), and starts the next round at once while either has more.  A CRM edit
made during a flood of QuickBooks events therefore goes out after at most one
batch of events, and a bulk edit in the CRM never holds events back for long
either.

CDC polls of different companies run side by side on a small pool
(:data:`POLL_WORKERS` threads): most of a poll is waiting for QuickBooks, so
ten thousand companies need not queue behind each other.  Each company's own
limits still hold (its realm's throttle), and one company is never polled
twice at once (:mod:`flask_qbo.sync.pull.polling`).

The thread starts lazily, on the first wake-up or the first request, not in
``init_app``: a forking server (gunicorn ``--preload``) or a CLI command such as
``flask db upgrade`` would otherwise start a thread it never uses, or lose it
in the fork.  For the same reason the test-suite rule is judged then too: an
app with ``TESTING = True`` starts no thread unless the host set
``QBO_RUNNER`` itself (a host's tests run queued work with
:func:`flask_qbo.testing.push_now` and :func:`~flask_qbo.testing.pull_now`), so
a fixture that turns ``TESTING`` on after ``create_app()`` is covered as well.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import time
import typing as t
import weakref
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import select

from ..billing import notices
from ..billing import reference
from ..connection import upkeep
from ..models import Outbox
from ..models import OutboxStatus
from ..models import qbo_today
from ..models import utcnow
from ..state import get_qbo
from ..sync.pull import pull
from ..sync.push import push

if t.TYPE_CHECKING:
    from ..extension import QBO

P = t.ParamSpec("P")
R = t.TypeVar("R")

log = logging.getLogger(__name__)

#: Rows one ``push.process`` call handles: the push queue's turn in a round (the pull
#: queue's turn is one ``pull.process`` call of ``pull.BATCH`` events per realm).
PUSH_CHUNK = 100
#: Threads polling CDC for different companies at once (each company keeps its own request limits).
POLL_WORKERS = 4

#: Runners alive in this process, stopped at interpreter exit.
_runners: weakref.WeakSet[ThreadRunner] = weakref.WeakSet()


class ThreadRunner:
    """One daemon thread driving push, pull and upkeep for one app.

    :param poll_interval: seconds between calls of ``pull.poll_due`` (it decides
        per connection whether a CDC poll is due) and of the idle safety tick.
    :param upkeep_interval: seconds between calls of ``upkeep.upkeep``.
    :param poll_workers: companies polled at once; 1 polls them one after the other in the runner's thread.
    :param in_tests: start in an app with ``TESTING = True`` too (the host set
        ``QBO_RUNNER`` itself); otherwise such an app never starts the thread.
    """

    def __init__(
        self,
        app: Flask,
        *,
        poll_interval: float = 5.0,
        upkeep_interval: float = 60.0,
        in_tests: bool = True,
        poll_workers: int = POLL_WORKERS,
    ) -> None:
        self.app = app
        self.in_tests = in_tests
        self.poll_interval = poll_interval
        self.upkeep_interval = upkeep_interval
        self._event = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0
        self._next_upkeep = 0.0
        self.poll_workers = poll_workers
        self._pool: ThreadPoolExecutor | None = None
        #: Iterations completed and jobs that raised: visible to tests and the health page.
        self.loops = 0
        self.errors = 0
        #: When the last round finished (UTC): read by ``flask qbo doctor`` and the health page.
        self.last_run: dt.datetime | None = None
        self._said_held = False
        # Quote-to-cash (flask_qbo.billing): reference reads checked on the poll timer, the overdue sweep once a day.
        self._next_reference: float | None = None
        self._swept_on: dt.date | None = None

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def held_for_tests(self) -> bool:
        """True when the app is under test (``TESTING``) and the host did not ask for this runner."""
        return bool(self.app.testing and not self.in_tests)

    def on_request(self) -> None:
        """The start attached by ``init_app``: ``QBO_RUNNER`` is read now, not when the extension was set up,
        so a test fixture that sets it after ``create_app()`` is obeyed."""
        if self.app.config.get("QBO_RUNNER") == "thread":
            self.ensure_started()

    def ensure_started(self) -> None:
        """Start the thread unless it runs already, the runner was stopped, or the app is under test."""
        if self.alive or self._stopping.is_set():
            return
        if self.held_for_tests:
            if not self._said_held:
                self._said_held = True
                log.info(
                    "QBO runner not started: app.testing is on. Tests run queued work with "
                    "flask_qbo.testing.push_now() / pull_now(); set QBO_RUNNER to run the thread anyway."
                )
            return
        with self._lock:
            if self.alive or self._stopping.is_set():
                return
            self._thread = threading.Thread(target=self._run, name=f"qbo-runner-{self.app.name}", daemon=True)
            self._thread.start()
            _runners.add(self)

    def wake(self, reason: str = "") -> None:
        """Ask the thread to look for work now; never blocks."""
        self.ensure_started()
        self._event.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread after its current job (waits up to ``timeout`` seconds)."""
        self._stopping.set()
        self._event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def run_forever(self) -> None:
        """Run the loop in the calling thread (``flask qbo worker``) until :meth:`stop`."""
        with self._lock:
            self._thread = threading.current_thread()
        _runners.add(self)
        self._run()

    def _run(self) -> None:
        while not self._stopping.is_set():
            with self.app.app_context():
                wait = self.run_once()
            self.loops += 1
            self._event.wait(wait)
            self._event.clear()

    def run_once(self) -> float:
        """Run one turn of each queue and the due timers; return the seconds to sleep before the next round.

        Zero when the outbox or the inbox has more waiting, so the turns
        alternate until both are drained.
        """
        due_in = self.poll_interval
        next_push = self._job("push", _push_turn, self.app)
        if next_push is not None:
            due_in = min(due_in, max(next_push, 0.0))
        qbo = get_qbo(self.app)
        if self._job("pull.process", _pull_turn, qbo):
            due_in = 0.0
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + self.poll_interval
            self._job("pull.poll_due", pull.poll_due, qbo, pool=self._poll_pool())
        if now >= self._next_upkeep:
            self._next_upkeep = now + self.upkeep_interval
            self._job("upkeep", upkeep.upkeep, qbo)
        self._billing_jobs(qbo, now)
        self.last_run = utcnow()
        return due_in

    def _billing_jobs(self, qbo: QBO, now: float) -> None:
        """Read the reference data of companies that need it (just connected, asked for, a day old), and
        sweep for overdue invoices once per UTC day (a failed sweep waits for the next day: it misses nothing).

        The first reference check comes one poll interval after the runner starts: the queues and the
        CDC polls get QuickBooks first."""
        if self._next_reference is None:
            self._next_reference = now + self.poll_interval
        if now >= self._next_reference:
            self._next_reference = now + self.poll_interval
            self._job("reference", reference.refresh_due, qbo)
        today = qbo_today()
        if self._swept_on != today:
            self._swept_on = today
            self._job("overdue", notices.sweep_overdue, qbo)

    def _poll_pool(self) -> ThreadPoolExecutor | None:
        """The pool CDC polls run on, made on first use; ``None`` with one poll worker."""
        if self.poll_workers > 1 and self._pool is None:
            self._pool = ThreadPoolExecutor(self.poll_workers, thread_name_prefix=f"qbo-poll-{self.app.name}")
        return self._pool

    def _job(self, name: str, func: t.Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
        """Run one job; an exception is logged with its traceback and counted, and the thread lives on."""
        try:
            return func(*args, **kwargs)
        except Exception:
            self.errors += 1
            log.exception("QBO runner job %s failed; the runner keeps going.", name)
            return None
        finally:
            _discard_session(self.app)


def _push_turn(app: Flask) -> float | None:
    """Push up to :data:`PUSH_CHUNK` due rows; return seconds until the next row is due (0 when more are)."""

    qbo = get_qbo(app)
    if not _outbox_busy(qbo):
        return None
    if push.process(qbo, limit=PUSH_CHUNK) >= PUSH_CHUNK:
        return 0.0
    return push.next_due_in(qbo)


def _outbox_busy(qbo: QBO) -> bool:
    """True while an outbox row is pending or claimed; otherwise the push turn has nothing to look at.

    One indexed query instead of the turn's queries over every connected
    company, on each tick of an idle CRM with thousands of companies.
    """
    session = qbo.state().db.session()
    busy = session.scalar(
        select(Outbox.id).where(Outbox.status.in_((OutboxStatus.PENDING, OutboxStatus.IN_PROGRESS))).limit(1)
    )
    session.commit()
    return busy is not None


def _pull_turn(qbo: QBO) -> bool:
    """Apply one batch of inbox events; True when more are due (events put back after a failure wait)."""

    pull.process(qbo, limit=pull.BATCH)
    return pull.pending_count(qbo) > 0


def _discard_session(app: Flask) -> None:
    """End the job's session so the next job starts from fresh rows and no transaction idles."""

    try:
        get_qbo(app).state(app).db.session.remove()
    except Exception:
        log.exception("Could not reset the database session of the QBO runner.")


# -- module API ------------------------------------------------------------------------


def start(app: Flask) -> ThreadRunner:
    """Create (if needed) and start the app's thread runner, in an app under test too (this call asks for it)."""

    state = get_qbo(app).state(app)
    if not isinstance(state.runner, ThreadRunner) or state.runner._stopping.is_set():
        state.runner = ThreadRunner(app)
    state.runner.in_tests = True
    state.runner.ensure_started()
    return state.runner


def stop(app: Flask, timeout: float = 5.0) -> None:
    """Stop the app's runner, if it has one, and detach it."""

    state = get_qbo(app).state(app)
    runner = state.runner
    state.runner = None
    if runner is not None:
        runner.stop(timeout)


def start_if_configured(qbo: QBO, app: Flask, *, asked: bool = True) -> None:
    """Called by ``init_app``: with ``QBO_RUNNER = "thread"`` attach a runner started lazily.

    ``"none"`` attaches nothing (the host calls the functions, or runs
    ``flask qbo worker``); ``"celery"`` attaches a runner whose wake-up sends a
    task (:mod:`flask_qbo.runners.celery`).  ``asked`` is whether the host set
    ``QBO_RUNNER`` itself: the default thread never starts in an app with
    ``TESTING = True``, one the host asked for does.
    """
    if app.config["QBO_RUNNER"] == "celery":
        from .celery import CeleryRunner

        qbo.state(app).runner = CeleryRunner(app)
        return
    if app.config["QBO_RUNNER"] != "thread":
        return
    runner = ThreadRunner(app, in_tests=asked)
    qbo.state(app).runner = runner
    app.before_request(runner.on_request)


@atexit.register
def _stop_all() -> None:
    for runner in list(_runners):
        runner.stop(timeout=2.0)
