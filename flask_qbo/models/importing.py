"""The initial import's tables: a run's progress and the proposed pairings awaiting the admin."""

from __future__ import annotations

import datetime as dt
import typing as t

from sqlalchemy import JSON
from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

if t.TYPE_CHECKING:
    pass


from .base import Base
from .base import UTCDateTime
from .base import status_column
from .base import utcnow
from .statuses import ImportDecision
from .statuses import ImportStatus


class ImportRun(Base):
    """One run of the initial import: progress and a resumable cursor."""

    __tablename__ = "qbo_import_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_key: Mapped[str] = mapped_column(String(64), index=True)
    realm_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[ImportStatus] = mapped_column(status_column(ImportStatus), default=ImportStatus.FETCHING)
    #: Only transactions this many months back (None: all history).
    months: Mapped[int | None] = mapped_column(Integer)
    #: Where fetching resumes: {"entity": "Invoice", "start": 1001}.
    cursor: Mapped[dict[str, t.Any] | None] = mapped_column(JSON)
    customers_total: Mapped[int] = mapped_column(Integer, default=0)
    customers_done: Mapped[int] = mapped_column(Integer, default=0)
    transactions_done: Mapped[int] = mapped_column(Integer, default=0)
    requests_made: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_by: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ImportMatch(Base):
    """A proposed pairing of a QBO customer with a CRM contact, awaiting the admin's choice."""

    __tablename__ = "qbo_import_match"
    __table_args__ = (UniqueConstraint("run_id", "qbo_id", name="uq_qbo_import_match_run_qbo_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    qbo_id: Mapped[str] = mapped_column(String(32))
    contact_key: Mapped[str | None] = mapped_column(String(64))
    #: ``email`` / ``phone`` / ``name`` / ``ambiguous`` / ``none``.
    match_kind: Mapped[str] = mapped_column(String(20))
    #: Other plausible contacts when ambiguous: [contact_key, ...].
    candidates: Mapped[list[str] | None] = mapped_column(JSON)
    decision: Mapped[ImportDecision] = mapped_column(status_column(ImportDecision), default=ImportDecision.PENDING)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
