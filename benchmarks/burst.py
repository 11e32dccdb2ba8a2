"""What the two outbox-burst benchmarks share: a time-scaled CRM, the outbox watch, the full-window rate.

``push_burst`` (3,000 updates) and ``push_creates`` (3,000 new contacts) differ
only in what they queue and how they check the result; both run the thread
runner against the emulator with QBO's throttle on a shrunk clock, sample how
many outbox rows have settled, and report the rate over whole scaled minutes
(see :mod:`benchmarks.push_burst` for why that figure and not ``total / elapsed``).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import tempfile
import time
import typing as t

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flask_qbo.billing import reference
from flask_qbo.emulator import Emulator
from flask_qbo.intuit import throttle
from flask_qbo.models import Outbox
from flask_qbo.state import get_qbo
from flask_qbo.testing import TEST_REALM
from flask_qbo.testing import attach_emulator
from flask_qbo.testing import connect_tenant
from flask_qbo.testing import make_emulator


@dataclasses.dataclass
class Setup:
    """A demo-shaped CRM on a fresh SQLite file, connected to an emulator, with the client's throttle scaled."""

    emu: Emulator
    app: Flask
    batch_per_minute: int
    limiter: throttle.Throttle


def connected_crm(prefix: str, scale: float) -> Setup:
    """Tenant ``acme`` connected to :data:`~flask_qbo.testing.TEST_REALM`; no runner started yet.

    The company's reference data (items, tax codes, preferences) is read as a
    runner reads it right after a connect, so a burst's requests are its own.
    """
    from tests.hostapp import make_app  # the benchmarks drive the test suite's host app

    emu = make_emulator(time_scale=scale)
    app = make_app(f"sqlite:///{tempfile.mkdtemp(prefix=prefix)}/crm.sqlite", QBO_RUNNER="none")
    attach_emulator(app, emu)
    connect_tenant(app, emu, "acme", TEST_REALM)
    with app.app_context():
        reference.refresh_due(get_qbo())
    limiter = throttle.install(app, throttle.build_throttle(app, time_scale=scale))
    return Setup(emu, app, int(app.config["QBO_BATCH_PER_MINUTE"]), limiter)


def watch_outbox(db: SQLAlchemy, total: int, max_seconds: float) -> tuple[list[float], list[int]]:
    """Sample (seconds since start, rows settled) every 50 ms until ``total`` settled or time ran out.

    Call it inside an app context right after waking the runner.
    """
    started = time.monotonic()
    times: list[float] = [0.0]
    done: list[int] = [0]
    while done[-1] < total and time.monotonic() - started < max_seconds:
        time.sleep(0.05)
        count = db.session.query(Outbox).filter(Outbox.status.notin_(("pending", "in_progress"))).count()
        db.session.commit()
        times.append(time.monotonic() - started)
        done.append(count)
    return times, done


@dataclasses.dataclass(frozen=True)
class Rate:
    """Rows settled per scaled minute: over the whole run, and over its whole scaled minutes."""

    scaled_minutes: float
    windows: int
    overall: float
    achieved: float


def full_window_rate(times: t.Sequence[float], done: t.Sequence[int], scale: float, total: int) -> Rate:
    """``total`` rows over the run, and the rows done by the end of the k-th whole scaled minute divided by k."""
    minute = 60.0 / scale
    scaled_minutes = times[-1] / minute
    overall = total / scaled_minutes if scaled_minutes else 0.0
    windows = math.floor(scaled_minutes)
    if windows >= 1:  # last sample at or before the end of the k-th minute
        achieved = done[bisect.bisect_right(times, windows * minute) - 1] / windows
    else:
        achieved = overall
    return Rate(scaled_minutes, windows, overall, achieved)
