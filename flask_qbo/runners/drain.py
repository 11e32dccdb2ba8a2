"""How a Celery push or pull task works: drain while work is due, fan out to idle workers, never lose a wake-up.

A task is a wake-up (:mod:`flask_qbo.runners.celery`), and with wake-up slots
(:mod:`.debounce`) one task stands for every commit or webhook made while it
runs.  So the loop here keeps going while rows are due, sends another worker
to a backlog as soon as a claim leaves rows behind (and, after a step, only
while a worker is idle: a task sent to busy workers starts once the backlog
is gone and finds nothing), claims inside :func:`~flask_qbo.sync.sharing.sharing`
so joined workers split the backlog, leaves fewer rows than a whole batch to
another task of its kind that is already running, and after giving its slot
back looks once more: that last look is what makes a skipped wake-up safe.
It lives apart from the Celery glue so the rule can be read, and tested, as
one function.
"""

from __future__ import annotations

import time
import typing as t

from ..sync.queue import Queue
from ..sync.sharing import part
from ..sync.sharing import sharing
from .debounce import Slots


class Work(t.NamedTuple):
    """One task kind's loop: a bounded step, and how much is due now."""

    name: str
    #: One bounded turn; returns the rows (or changes) it handled.
    step: t.Callable[[], int]
    #: Rows (or events) due now.
    due: t.Callable[[], int]
    #: Due rows may wait for rows another worker holds (the outbox's per-contact order).
    blocking: bool = True
    #: The queue whose batch claims, when they leave rows behind, send another worker there and then.
    queue: Queue | None = None
    #: Its steps are short (a pull batch): another task sent while every worker is busy would start
    #: once the rows are gone, so a claim that leaves rows sends one only while a worker is idle.
    short_steps: bool = False
    #: Rows one claim takes at most when they are due together (a push batch: 30), 1 when claims cost
    #: the same whatever their size.  While another task of this kind runs, fewer due than that are left
    #: to its next claim, and no task is sent for them.
    whole: int = 1


def drain(
    work: Work,
    slots: Slots,
    *,
    slot: bool,
    send: t.Callable[[str, bool, int | None], None],
    budget: float,
    workers: int,
    kinds: t.Sequence[str],
    among: int | None = None,
) -> int:
    """Run ``work.step`` while work is due, for at most ``budget`` seconds; returns its total.

    ``slot`` says whether this task holds one of ``work.name``'s slots (a
    wake-up's task does; a beat sweep's takes one if free).  While more rows
    are due than this task's next claim would take
    (:func:`~flask_qbo.sync.sharing.part`) and the tasks of ``kinds`` hold
    fewer slots than ``workers``, one more task is sent (``send(name,
    holds_slot, among)``); a trickle of single rows keeps to one task.  A push step
    that finds nothing while rows are due means another worker holds what
    those rows wait for (an older row of the same contact); that worker looks
    again when it is done, so this task ends.  Before ending, the slot is
    given back and the work looked at once more; a second look that finds
    only such rows ends the task.  When the budget runs out with work left, a fresh task (holding
    this one's slot) continues behind whatever else is queued.

    The first chance to send one more task is inside the step: a batch claim
    on ``work.queue`` that left due rows (:func:`~flask_qbo.sync.sharing.sharing`)
    sends it before this worker pushes what it claimed, so two workers split a
    backlog from its first batch.  For a push task that one is sent even
    while tasks of the other kind hold the remaining slots: during a burst of
    new contacts QBO's webhooks keep a short pull task queued most of the
    time, and counting it as a busy worker held the second push worker back
    for most of the burst.  A pull task's (``work.short_steps``) waits for an
    idle worker like the hand-out after a step: sent behind a push task, it
    started once this task had applied every event, and found nothing.

    A push burst is a backlog that keeps growing while it is sent.  With
    ``work.whole`` above 1, a task that finds fewer rows due than that while
    another task of its kind runs (a slot besides its own is held) claims
    none and ends, as if nothing were due: the other task's next claim takes
    them with what the burst commits meanwhile, one whole batch (three
    requests for 30 new contacts) where two workers taking turns claimed 12
    to 17 at a time.  The rows wait for at most the other task's current step
    (during a burst, the batch it is sending).  A second task only runs when
    its sender saw a batch or more left, so it is a backlog's tail that waits
    this way, never a lone edit.  No task is sent for such a rest either,
    after a step or from a claim.  The last look after the slot is given back
    still holds: if the other task ended meanwhile, this one takes the slot
    back and pushes them.  A task started without a slot (the beat sweep's)
    never leaves rows: the slot it would defer to may be a killed worker's,
    which frees itself only after :data:`~.debounce.SLOT_TTL`.

    A task sent this way is sent for the rest its sender left: its first
    claim shares what is due among the workers not yet on it (``among``, one
    fewer than its sender's), so with two workers it takes all of it.  Halving
    again left a quarter of a flood of events waiting a whole batch for a
    worker, although no third worker was coming for it.  Later claims share
    with the idle workers only (:func:`_ways`): a worker whose task holds a
    slot is busy with a claim of its own and comes back for more.
    """
    deadline = time.monotonic() + budget
    # A rest the next claim takes brings nobody.
    least = max(work.queue.least_share if work.queue is not None else 1, work.whole)
    total = 0
    looked_again = False
    sweep = not slot  # the beat sweep's task, or one whose sender held no slot: the fallback never defers
    slot = slot or slots.take(work.name, workers)

    share = max(1, min(among or workers, workers))  # the first claim's ways of sharing what is due

    def left_more(queue: Queue) -> None:
        if queue is not work.queue or (work.short_steps and not _idle_worker(slots, workers, kinds)):
            return
        if work.whole > 1 and work.due() < work.whole:
            return  # the rest is this task's next claim, taken whole
        if slots.take(work.name, workers):
            send(work.name, True, max(1, share - 1))

    try:
        while True:
            if not sweep and _left_to_another(work, slots):
                due = 0  # the running task's next claim takes them whole
            else:
                with sharing(share, left_more):
                    done = work.step()
                share = _ways(slots, workers, kinds, slot)
                total += done
                due = work.due() if done or not work.blocking else 0
            if due:
                looked_again = False
                if slot:
                    slots.renew(work.name)
                if time.monotonic() >= deadline:
                    send(work.name, slot, None)
                    slot = False  # handed over with the work
                    return total
                if (
                    part(due, workers, least) < due
                    and _idle_worker(slots, workers, kinds)
                    and slots.take(work.name, workers)
                ):
                    send(work.name, True, max(1, workers - 1))
                continue
            if not slot:
                return total
            slots.give_back(work.name)
            slot = False
            if looked_again or not work.due() or not slots.take(work.name, 1):
                return total  # looked once more already, nothing due, or another task holds a slot
            slot = looked_again = True
    finally:
        if slot:
            slots.give_back(work.name)


def _ways(slots: Slots, workers: int, kinds: t.Sequence[str], holds_slot: bool) -> int:
    """Ways the next claim shares what is due: this task, and each worker no task of ``kinds`` holds.

    A worker busy with a claim of its own comes back for more when it is done.
    Halving the rest for it anyway cost a claim more of the same fixed price
    (a QuickBooks read per pull claim, a batch's requests per push claim): a
    flood of webhook events went out in claims of 50, 150, 50, 25 and 25
    where 50, 150 and 100 would do.  The price: a worker whose step is just
    ending when this claim is made finds nothing left, and the claim's rows
    are applied by one worker instead of two.
    """
    others = _held(slots, kinds) - (1 if holds_slot else 0)
    return max(1, workers - max(0, others))


def _idle_worker(slots: Slots, workers: int, kinds: t.Sequence[str]) -> bool:
    """True when the tasks of ``kinds`` hold fewer slots than there are workers.

    A task sent while every worker is busy (a pull task taking the outbox's
    turns, say) would only start once the backlog it was sent for is gone.
    """
    return _held(slots, kinds) < workers


def _held(slots: Slots, kinds: t.Sequence[str]) -> int:
    """Slots the tasks of ``kinds`` hold now: one per task queued or running."""
    return sum(slots.held(name) for name in kinds)


def _left_to_another(work: Work, slots: Slots) -> bool:
    """True when another task of ``work``'s kind runs and fewer rows than a whole claim are due.

    Asked by a task that holds a slot: more than one held means another task holds one.
    """
    return work.whole > 1 and slots.held(work.name) > 1 and work.due() < work.whole
