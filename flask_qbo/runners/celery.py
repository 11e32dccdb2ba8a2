"""The Celery runner (``QBO_RUNNER = "celery"``, extra ``flask-qbo[celery]``).

The sync engine is plain functions that run inside an app context
(:func:`flask_qbo.sync.push.push.process`, :func:`flask_qbo.sync.pull.pull.process`,
:func:`flask_qbo.sync.pull.pull.poll_due`, :func:`flask_qbo.connection.upkeep.upkeep`), so Celery
only wraps them, following Flask's "Background Tasks with Celery" pattern:
:func:`celery_init_app` builds (or adopts) the Celery app with a task class that enters the Flask
app context, and the tasks are ``shared_task`` so they are not tied to one Celery app.

The database stays the queue.  A task is only a *wake-up*: it carries no row,
and every row is claimed in the database (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL plus a compare-and-set claim with a lease), so any number of
workers share the outbox and the inbox without double-processing, keep
per-contact order, and a lost or duplicated message never loses or repeats a
push.  Beat sweeps (:func:`beat_schedule`) run the same tasks on a timer, which
covers rows whose backoff has ended, messages lost while the broker was down,
and the CDC safety net.

Workers in different processes share QBO's per-realm limits through the Redis
throttle of :mod:`flask_qbo.intuit.throttle` (``QBO_RATE_LIMIT_STORAGE_URL``).

Wake-ups do not pile up (issue 16: 294 of 300 push tasks found nothing).  A
wake-up sends a task only when no task of its kind is queued or running
(:mod:`flask_qbo.runners.debounce`); a task drains while work is due, fans
out to one more worker per ``QBO_CELERY_CONCURRENCY`` while a backlog lasts,
claims inside :func:`~flask_qbo.sync.sharing.sharing` so those workers split a
backlog instead of one holding it, and looks once more after giving its slot
back, so a wake-up skipped while it ran is never lost.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
import weakref
from functools import partial

from flask import Flask
from flask import current_app
from flask import has_app_context

from ..billing import notices
from ..billing import reference
from ..config import cdc_interval
from ..config import get_config
from ..connection import upkeep
from ..errors import QBOConfigError
from ..models import utcnow
from ..state import get_qbo
from ..sync.pull import pull
from ..sync.push import push
from ..sync.push.batch import BATCH_SIZE
from ..sync.queue import INBOX
from ..sync.queue import OUTBOX
from . import debounce
from . import drain

try:
    from celery import Celery
    from celery import Task
    from celery import shared_task
    from celery._state import get_current_app
    from celery.schedules import crontab
    from celery.signals import worker_process_init
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise QBOConfigError('QBO_RUNNER = "celery" needs Celery: pip install "flask-qbo[celery]".') from exc

if t.TYPE_CHECKING:
    from ..extension import QBO

    _AnyTask = Task[..., object]
else:
    _AnyTask = Task  # Celery before 5.6 cannot subscript Task at runtime

log = logging.getLogger(__name__)

#: Task names, stable so that beat entries and ``send_task`` never import this module's objects.
PUSH_TASK = "flask_qbo.push"
PULL_TASK = "flask_qbo.pull"
CDC_TASK = "flask_qbo.cdc"
CDC_POLL_TASK = "flask_qbo.cdc_poll"
UPKEEP_TASK = "flask_qbo.upkeep"

#: Rows one ``push.process`` call takes; a full chunk means "look again".
PUSH_CHUNK = 100
#: Seconds a task keeps draining before it hands the rest to a fresh task, so
#: one realm's backlog never starves the other queued tasks of a worker.
DRAIN_BUDGET = 20.0
#: A wake-up still queued after this many seconds is dropped by the worker:
#: the beat sweep has done its work by then, and a broker backlog after an
#: outage must not turn into thousands of empty runs.
WAKE_EXPIRES = 300
#: Companies one ``cdc_poll`` task polls.  The CDC sweep hands the due companies out in
#: shares of this size, so polls spread over every worker instead of one worker polling
#: ten thousand companies in a row while the others idle.
CDC_SHARE = 25
#: Seconds between connection upkeep runs (token refresh, expiry warnings).
UPKEEP_INTERVAL = 3600.0

#: Celery app → Flask app, for tasks run by a Celery app whose task class does
#: not enter an app context itself (a host's own Celery app).
_flask_apps: weakref.WeakKeyDictionary[Celery, Flask] = weakref.WeakKeyDictionary()

#: Tasks whose wake-ups share slots (:mod:`.debounce`); CDC and upkeep run on beat's timer.
_SLOTTED = ("flask_qbo.push", "flask_qbo.pull")

#: What a wake-up reason asks for: a webhook or an inbox event a push queued (``"inbox"``) means pull,
#: a (re)connect means a push of the rows kept while broken plus a CDC catch-up; anything else is a push.
_WAKE_TASKS: dict[str, tuple[str, ...]] = {
    "webhook": (PULL_TASK,),
    "inbox": (PULL_TASK,),
    "connected": (PUSH_TASK, CDC_TASK),
    "reconnected": (PUSH_TASK, CDC_TASK),
}


# -- setup -------------------------------------------------------------------------


def celery_init_app(app: Flask, celery_app: Celery | None = None) -> Celery:
    """Give ``app`` a Celery app whose tasks run inside ``app``'s context.

    Without ``celery_app`` a new one is built from the ``CELERY`` config dict
    (``broker_url`` and so on), as in Flask's Celery pattern.  A host that has
    its own Celery app passes it instead.  Either way the Flask-QBO beat entries
    are added (the host's own entries of the same name win), the Celery app is
    stored in ``app.extensions["celery"]`` and made the default, and each
    prefork child gets fresh database connections.
    """
    if celery_app is None:

        class FlaskTask(_AnyTask):
            def __call__(self, *args: t.Any, **kwargs: t.Any) -> object:
                with app.app_context():
                    return self.run(*args, **kwargs)

        celery_app = Celery(app.name, task_cls=FlaskTask)
        celery_app.config_from_object(dict(app.config.get("CELERY") or {}))
    schedule = dict(beat_schedule(app))
    schedule.update(billing_beat_schedule(app))
    schedule.update(celery_app.conf.beat_schedule or {})
    celery_app.conf.beat_schedule = schedule
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    _flask_apps[celery_app] = app
    _fresh_connections_after_fork(app)
    if get_config("QBO_RUNNER", app) == "celery" and not get_config("QBO_RATE_LIMIT_STORAGE_URL", app):
        log.warning(
            "QBO_RUNNER is 'celery' but QBO_RATE_LIMIT_STORAGE_URL is not set: each worker process "
            "throttles alone, so several workers together can exceed QuickBooks' per-company limits."
        )
    return celery_app


def _fresh_connections_after_fork(app: Flask) -> None:
    """Drop pooled connections a prefork child inherited from its parent.

    Two processes using one inherited socket corrupt each other's protocol
    state; ``close=False`` leaves the parent's connections alone.
    """

    def dispose(**_: object) -> None:
        qbo = app.extensions.get("qbo")
        if qbo is None:
            return
        with app.app_context():
            for engine in qbo.state(app).db.engines.values():
                engine.dispose(close=False)

    worker_process_init.connect(dispose, weak=False)


def beat_schedule(app: Flask | None = None) -> dict[str, dict[str, t.Any]]:
    """The beat entries Flask-QBO needs; merge them into your ``beat_schedule``.

    Push and pull sweeps pick up rows nobody woke a task for (a backoff that
    ended, a message lost with the broker); the CDC entry calls
    ``pull.poll_due``, which polls each connection once its own
    ``QBO_CDC_INTERVAL`` has passed, so the entry runs at the sweep interval or
    faster.  Each entry expires after one period so a stopped worker pool does
    not come back to a pile of identical runs.
    """
    sweep = float(get_config("QBO_CELERY_SWEEP_INTERVAL", app))
    cdc = float(min(sweep, cdc_interval(app)))
    return {
        "flask-qbo-push-sweep": {"task": PUSH_TASK, "schedule": sweep, "options": {"expires": sweep}},
        "flask-qbo-pull-sweep": {"task": PULL_TASK, "schedule": sweep, "options": {"expires": sweep}},
        "flask-qbo-cdc": {"task": CDC_TASK, "schedule": cdc, "options": {"expires": cdc}},
        "flask-qbo-upkeep": {"task": UPKEEP_TASK, "schedule": UPKEEP_INTERVAL, "options": {"expires": UPKEEP_INTERVAL}},
    }


# -- wake-ups ----------------------------------------------------------------------


class CeleryRunner:
    """What :func:`flask_qbo.state.wake` talks to when ``QBO_RUNNER`` is ``"celery"``."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        #: When a task last finished in this process (a worker's; always ``None`` in a web process).
        self.last_run: dt.datetime | None = None

    def wake(self, reason: str = "") -> None:
        """Send the task the reason calls for; never raises (the beat sweep is the fallback)."""
        wake(self.app, reason)

    def stop(self, timeout: float = 5.0) -> None:
        """Nothing runs in this process; the workers are stopped by Celery."""
        return None


def wake(app: Flask, reason: str = "") -> list[str]:
    """Queue the tasks for ``reason`` on ``app``'s Celery app; returns the task names sent.

    Sent without publish retries: the caller has just committed (a web
    request), and a broker outage must not hold it up.  A wake-up that could
    not be sent only delays the work until the next beat sweep.
    """
    celery_app = celery_for(app)
    slots = wake_slots(app, celery_app)
    sent = []
    for name in _WAKE_TASKS.get(reason, (PUSH_TASK,)):
        slotted = name in _SLOTTED
        if slotted and not slots.take(name, 1):
            continue  # a task of this kind is queued or running: it will see this commit's rows
        try:
            celery_app.send_task(name, kwargs={"slot": True} if slotted else {}, expires=WAKE_EXPIRES, retry=False)
        except Exception as exc:  # broker unreachable: the sweep picks the work up
            if slotted:
                slots.give_back(name)
            log.warning("Could not queue %s (%s: %s); the next beat sweep will run it.", name, type(exc).__name__, exc)
            continue
        sent.append(name)
    return sent


def wake_slots(app: Flask, celery_app: Celery | None = None) -> debounce.Slots:
    """The wake-up slots of ``app``'s deployment (its Celery app's default queue names it)."""
    queue = (celery_app or celery_for(app)).conf.task_default_queue
    return debounce.slots_for(app, f"{app.import_name}:{queue}")


def celery_for(app: Flask) -> Celery:
    """The Celery app registered for ``app`` (``app.extensions["celery"]``), else Celery's default."""
    found = app.extensions.get("celery")
    if isinstance(found, Celery):
        return found
    return get_current_app()


# -- tasks -------------------------------------------------------------------------


def _run(task: Task[[], int], job: t.Callable[[QBO], int]) -> int:
    """Run ``job(qbo)`` in an app context: the task class's, or the one registered for its Celery app."""

    if has_app_context():
        return _stamped(job)
    flask_app = _flask_apps.get(task.app)
    if flask_app is None:
        raise QBOConfigError(
            f"Task {task.name} ran without a Flask app context; call "
            "flask_qbo.runners.celery.celery_init_app(app, celery_app) in the worker's app module."
        )
    with flask_app.app_context():
        return _stamped(job)


def _stamped(job: t.Callable[[QBO], int]) -> int:
    """Run ``job`` in the current app context and stamp the app's :class:`CeleryRunner`, if it has one."""
    qbo = get_qbo()
    done = job(qbo)
    runner = qbo.state().runner
    if isinstance(runner, CeleryRunner):
        runner.last_run = utcnow()
    return done


def _drain(
    task: Task[..., int], work: drain.Work, slot: bool, deployment: tuple[debounce.Slots, int], among: int | None
) -> int:
    """:func:`.drain.drain` in ``deployment`` (:func:`_deployment`); the task's Celery app sends the hand-outs."""

    def send(name: str, holds_slot: bool, share: int | None) -> None:
        task.app.send_task(name, kwargs={"slot": holds_slot, "among": share}, expires=WAKE_EXPIRES)

    slots, workers = deployment
    return drain.drain(
        work, slots, slot=slot, send=send, budget=DRAIN_BUDGET, workers=workers, kinds=_SLOTTED, among=among
    )


def _deployment(task: Task[..., int]) -> tuple[debounce.Slots, int]:
    """The wake-up slots of the app this task runs for, and its workers (``QBO_CELERY_CONCURRENCY``)."""
    flask_app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    return wake_slots(flask_app, task.app), max(1, int(get_config("QBO_CELERY_CONCURRENCY")))


def _outbox_turn_needed(slots: debounce.Slots, workers: int) -> bool:
    """Whether a pull task should push due outbox rows itself: not while a push task holds a slot and a
    worker without a pull task can run it, in whole batches (the turn pushed a few rows at a time, three
    requests a new contact).  While every worker drains events, a queued push task would wait behind them."""
    return not slots.held(PUSH_TASK) or slots.held(PULL_TASK) >= workers


@shared_task(name=PUSH_TASK, bind=True, ignore_result=True)
def push_task(self: Task[..., int], slot: bool = False, among: int | None = None) -> int:
    """Push due outbox rows while any are due; any number may run at once (``among``: :func:`.drain.drain`)."""

    def job(qbo: QBO) -> int:
        step, due = partial(push.process, qbo, limit=PUSH_CHUNK), partial(push.due_count, qbo)
        work = drain.Work(PUSH_TASK, step, due, queue=OUTBOX, whole=BATCH_SIZE)
        return _drain(self, work, slot, _deployment(self), among)

    return _run(self, job)


@shared_task(name=PULL_TASK, bind=True, ignore_result=True)
def pull_task(self: Task[..., int], slot: bool = False, among: int | None = None) -> int:
    """Apply pending webhook events (the inbox) a batch at a time; returns local changes made.

    After every batch, due outbox rows get a turn (up to :data:`PUSH_CHUNK`)
    while every worker is busy with events (:func:`_outbox_turn_needed`): the
    push task queued behind them would otherwise wait, so a CRM edit waits for
    at most one batch.  The drain goes on while events are pending, whether or
    not the last batch changed anything (events for objects QBO no longer has
    change nothing).  ``among`` as for :func:`push_task`.
    """

    def job(qbo: QBO) -> int:
        deployment = slots, workers = _deployment(self)

        def step() -> int:
            applied = pull.process(qbo, limit=pull.BATCH)
            if _outbox_turn_needed(slots, workers) and push.due_count(qbo):
                push.process(qbo, limit=PUSH_CHUNK)
            return applied

        work = drain.Work(
            PULL_TASK, step, lambda: pull.pending_count(qbo), blocking=False, queue=INBOX, short_steps=True
        )
        return _drain(self, work, slot, deployment, among)

    return _run(self, job)


@shared_task(name=CDC_TASK, bind=True, ignore_result=True)
def cdc_task(self: Task[[], int]) -> int:
    """Hand the companies whose CDC interval has passed to ``cdc_poll`` tasks; returns how many are due.

    One share is polled right here (no broker round trip for a small
    deployment); the others go to the queue for whichever workers are free.
    Each share expires after one CDC interval: by then the next sweep hands
    out the companies still due.
    """

    def job(qbo: QBO) -> int:
        due = pull.due_companies(qbo)
        shares = [due[i : i + CDC_SHARE] for i in range(0, len(due), CDC_SHARE)]
        for share in shares[1:]:
            self.app.send_task(CDC_POLL_TASK, args=[share], expires=cdc_interval())
        if shares:
            pull.poll_companies(shares[0], qbo)
        return len(due)

    return _run(self, job)


@shared_task(name=CDC_POLL_TASK, bind=True, ignore_result=True)
def cdc_poll_task(self: Task[[list[int]], int], connection_ids: list[int]) -> int:
    """Poll CDC for a share of the due companies (see :func:`cdc_task`); returns changes applied."""

    def job(qbo: QBO) -> int:
        return pull.poll_companies(connection_ids, qbo)

    return _run(t.cast("Task[[], int]", self), job)


@shared_task(name=UPKEEP_TASK, bind=True, ignore_result=True)
def upkeep_task(self: Task[[], int]) -> int:
    """Refresh tokens that are about to expire and send expiry warnings; returns connections checked."""

    def job(qbo: QBO) -> int:
        return int(upkeep.upkeep(qbo)["checked"])

    return _run(self, job)


# -- quote-to-cash: reference reads and the overdue sweep (flask_qbo.billing) ------------

REFERENCE_TASK = "flask_qbo.reference"
OVERDUE_TASK = "flask_qbo.overdue"
#: When the daily overdue sweep runs (UTC, Celery's default timezone): just after the day
#: overdue invoices are judged by changes (:func:`flask_qbo.models.qbo_today`, at 12:00 UTC).
OVERDUE_AT = {"hour": 12, "minute": 20}


def billing_beat_schedule(app: Flask | None = None) -> dict[str, dict[str, t.Any]]:
    """The quote-to-cash beat entries; merge them into your ``beat_schedule`` with :func:`beat_schedule`'s.

    The reference entry runs at the sweep interval and reads only the
    companies that need it (just connected, asked for, or read a day ago), so
    a new connection's items and tax codes arrive within one sweep.  The
    overdue sweep runs once a day.
    """
    sweep = float(get_config("QBO_CELERY_SWEEP_INTERVAL", app))
    day = 3600.0
    return {
        "flask-qbo-reference": {"task": REFERENCE_TASK, "schedule": sweep, "options": {"expires": sweep}},
        "flask-qbo-overdue": {"task": OVERDUE_TASK, "schedule": crontab(**OVERDUE_AT), "options": {"expires": day}},
    }


@shared_task(name=REFERENCE_TASK, bind=True, ignore_result=True)
def reference_task(self: Task[[], int]) -> int:
    """Read the items, tax codes and preferences of the companies that need it; returns companies read."""
    return _run(self, reference.refresh_due)


@shared_task(name=OVERDUE_TASK, bind=True, ignore_result=True)
def overdue_task(self: Task[[], int]) -> int:
    """Send ``invoice_overdue`` for invoices that fell past due (once per invoice); returns signals sent."""
    return _run(self, notices.sweep_overdue)


__all__ = [
    "CDC_POLL_TASK",
    "CDC_SHARE",
    "CDC_TASK",
    "OVERDUE_TASK",
    "REFERENCE_TASK",
    "PULL_TASK",
    "PUSH_TASK",
    "UPKEEP_TASK",
    "CeleryRunner",
    "beat_schedule",
    "billing_beat_schedule",
    "celery_for",
    "celery_init_app",
    "cdc_poll_task",
    "cdc_task",
    "overdue_task",
    "pull_task",
    "push_task",
    "reference_task",
    "upkeep_task",
    "wake",
]
