"""How fast this machine runs Python: printed beside the CPU figures, so runs on two machines compare.

The CPU targets of issue 16 (milliseconds per 1,000 rows, per company and cycle)
were set on one 2-core machine; another machine's figures differ by its speed
as much as by the code.  :func:`python_ms` times a fixed pure-Python workload
(a loop of dict, string and arithmetic operations, like the extension's own)
and keeps the best of several runs, so a figure divided by it travels between
machines better than the figure alone.
"""

from __future__ import annotations

import time


def _workload() -> int:
    seen: dict[str, int] = {}
    total = 0
    for i in range(200_000):
        key = f"k{i % 1000}"
        seen[key] = seen.get(key, 0) + i
        total += len(key) * 3 - i % 7
    return total + len(seen)


def python_ms(runs: int = 15) -> float:
    """Milliseconds of CPU for the fixed workload, the best of ``runs``."""
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        _workload()
        best = min(best, time.process_time() - started)
    return round(best * 1000, 1)


if __name__ == "__main__":
    import json

    print(json.dumps({"benchmark": "machine", "python_ms": python_ms()}))
