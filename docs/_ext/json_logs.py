"""The JSON-logs recipe of docs/operations.rst, kept as code so the page and its test cannot drift.

The page shows this file (``literalinclude``) and tests/test_logging.py runs it,
so what a host copies is what the test suite checks.  It is no Sphinx extension;
it lives next to them because docs/_ext is where the docs keep their code.
"""

from __future__ import annotations

import json
import logging
import typing as t

#: The ``extra`` fields Flask-QBO puts on its log records (see docs/operations.rst, "Logs").
QBO_FIELDS = ("qbo_realm", "qbo_tenant", "qbo_outbox_id", "qbo_inbox_id", "intuit_tid")


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, Flask-QBO's fields, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, t.Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in QBO_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# -- structlog: when the host already renders its logs with structlog ---------------------


def structlog_formatter() -> logging.Formatter:
    """A stdlib formatter that renders Flask-QBO's records through structlog's JSON renderer.

    ``ExtraAdder`` copies the ``extra`` fields onto structlog's event dict
    (structlog 21.5 or later).
    """
    import structlog

    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(allow=QBO_FIELDS),
            structlog.processors.TimeStamper(fmt="iso"),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
