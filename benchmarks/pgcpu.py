"""CPU spent by a PostgreSQL server on this machine, for the benchmarks' "workers per PostgreSQL" figures.

A worker's own CPU (``time.process_time``) leaves out what its statements
cost the database server.  To say how many workers one PostgreSQL server
keeps up with, the benchmarks also read the server's CPU over the same
stretch: every ``postgres`` process's user and system time from ``/proc``,
plus the time of backends that ended meanwhile, which the kernel adds to
their parent's ``cutime``/``cstime`` when the postmaster reaps them (a
connection closed during the stretch is not lost).

Only a server running on this machine under Linux can be read; elsewhere
:func:`server_cpu` returns ``None`` and the figures say so.  Everything the
server does in the stretch counts, including its background writers and any
other client's queries: run it on an otherwise idle server.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Where the kernel lists processes (a parameter for the tests).
PROC = Path("/proc")
#: The name PostgreSQL's processes run under (the postmaster and every backend).
NAME = "postgres"


def _stat(entry: Path) -> tuple[str, int] | None:
    """``(name, ticks)`` of one process, its own and its reaped children's; ``None`` once it is gone."""
    try:
        text = (entry / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    # After the name: state, ppid, ..., utime (the 14th field), stime, cutime, cstime (man 5 proc).
    fields = text[text.rindex(")") + 2 :].split()
    return name, sum(int(v) for v in fields[11:15])


def server_cpu(proc: Path = PROC) -> float | None:
    """Seconds of CPU used so far by the PostgreSQL servers on this machine; ``None`` when none runs here.

    Each process counts with the children it reaped: a backend's ended
    helpers are in its own count, an ended backend in the postmaster's.
    """
    ticks = [
        stat[1]
        for entry in proc.iterdir()
        if entry.name.isdigit() and (stat := _stat(entry)) is not None and stat[0] == NAME
    ]
    if not ticks:
        return None
    return sum(ticks) / os.sysconf("SC_CLK_TCK")


class ServerCPU:
    """The server's CPU over a stretch: :meth:`start`, then :meth:`seconds` (``None`` when it cannot be read)."""

    def __init__(self, proc: Path = PROC) -> None:
        self.proc = proc
        self._started: float | None = None

    def start(self) -> None:
        self._started = server_cpu(self.proc)

    def seconds(self) -> float | None:
        now = server_cpu(self.proc)
        if now is None or self._started is None:
            return None
        return now - self._started
