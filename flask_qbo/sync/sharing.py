"""How many workers share a backlog, and whom a claim tells when it left rows behind.

One worker that claims a whole backlog keeps it while the other workers find
nothing and idle.  A runner with several workers (Celery) therefore claims
inside :func:`sharing`: a batch claim there
(:meth:`~flask_qbo.sync.queue.Queue.claim_many`) takes at most ``1 / workers``
of the due rows it finds, so a second worker reaching for the same backlog
finds half of it, a third a quarter, and every worker stays busy (a queue
whose claims cost the same whatever their size takes a small rest whole:
:func:`part`); the rows are still handed out oldest first and never twice.  A claim that left rows behind
says so, so the runner can send another worker there and then.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import typing as t

if t.TYPE_CHECKING:
    from .queue import Queue


class Sharing(t.NamedTuple):
    """What :func:`sharing` set: how many workers a claim leaves room for, and whom to tell when it did."""

    workers: int
    left_more: t.Callable[[Queue], None] | None


#: Outside :func:`sharing`: a claim takes what it asks for and tells nobody.
_ALONE = Sharing(1, None)
_current: contextvars.ContextVar[Sharing] = contextvars.ContextVar("qbo_claim_share", default=_ALONE)


@contextlib.contextmanager
def sharing(workers: int, left_more: t.Callable[[Queue], None] | None = None) -> t.Iterator[None]:
    """Let each batch claim made inside take at most ``1 / workers`` of the due rows it finds (at least one).

    ``left_more(queue)`` is called after a claim on ``queue`` committed and
    left due rows behind: the moment to send another worker, before this one
    spends its time on the rows it took (asked only after them, the second
    worker started once the first had pushed a whole chunk, batch by batch).
    """
    token = _current.set(Sharing(max(1, workers), left_more))
    try:
        yield
    finally:
        _current.reset(token)


def current() -> Sharing:
    """The sharing the running claim is made in (one worker, nobody told, outside :func:`sharing`)."""
    return _current.get()


def part(ready: int, workers: int, least: int) -> int:
    """How many of ``ready`` due rows one of ``workers`` claims: its share, rounded up, or all of them.

    All of them when the rest would be fewer than ``least``: where every
    claim costs the same whatever its size (a QBO read, a commit), a small
    rest halved again and again only adds claims.
    """
    mine = math.ceil(ready / max(1, workers))
    return mine if ready - mine >= least else ready
