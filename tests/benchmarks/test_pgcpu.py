"""The PostgreSQL server's CPU as the benchmarks read it from a process table (a fake ``/proc`` here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.pgcpu import ServerCPU
from benchmarks.pgcpu import server_cpu

HZ = os.sysconf("SC_CLK_TCK")


def _process(
    proc: Path, pid: int, name: str, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0
) -> None:
    """One ``/proc/<pid>/stat`` line: pid (name) state ppid, then fields up to cstime (man 5 proc)."""
    fields = ["S", str(ppid), *["0"] * 9, str(utime), str(stime), str(cutime), str(cstime), "20", "0"]
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


@pytest.fixture()
def proc(tmp_path: Path) -> Path:
    _process(tmp_path, 1, "systemd", 0, 500, 500)
    _process(tmp_path, 100, "postgres", 1, 10, 5, cutime=30, cstime=20)  # the postmaster, with reaped backends
    _process(tmp_path, 101, "postgres", 100, 7, 3, cutime=2)  # a live backend, with one ended helper
    _process(tmp_path, 200, "python", 1, 900, 100, cutime=4000)  # not PostgreSQL: never counted
    (tmp_path / "300").mkdir()  # a process that ended while the table was read: no stat left
    (tmp_path / "self").mkdir()
    return tmp_path


def test_a_server_counts_its_processes_and_the_backends_it_reaped(proc: Path) -> None:
    assert server_cpu(proc) == pytest.approx((10 + 5 + 30 + 20 + 7 + 3 + 2) / HZ)


def test_a_name_with_spaces_and_parentheses_is_read_whole(proc: Path) -> None:
    _process(proc, 400, "postgres) S 1 (x", 1, 1000, 1000)  # a hostile name cannot shift the fields
    assert server_cpu(proc) == pytest.approx((10 + 5 + 30 + 20 + 7 + 3 + 2) / HZ)


def test_a_backend_that_ends_during_the_stretch_still_counts(proc: Path) -> None:
    meter = ServerCPU(proc)
    meter.start()
    (proc / "101" / "stat").unlink()  # the backend ends after 10 + 4 more ticks; the postmaster reaps them
    (proc / "101").rmdir()
    (proc / "100" / "stat").unlink()
    (proc / "100").rmdir()
    _process(proc, 100, "postgres", 1, 12, 5, cutime=30 + 11 + 2, cstime=20 + 3)  # its helper's ticks came too
    assert meter.seconds() == pytest.approx((2 + 4) / HZ)


def test_no_server_on_this_machine_reads_none(proc: Path) -> None:
    for pid in ("100", "101"):
        (proc / pid / "stat").unlink()
    meter = ServerCPU(proc)
    meter.start()
    assert server_cpu(proc) is None
    assert meter.seconds() is None
