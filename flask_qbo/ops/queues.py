"""The database's view of sync, read when Prometheus scrapes: queue depth and age, connections, token expiry.

A custom collector rather than gauges kept up to date: the numbers live in the
database every process shares, so whichever process serves the scrape reads
them once, and multiprocess mode needs no gauge files for them.  Each of the
apps given is read in its own app context; apps on one database are read once.
A database that cannot be read is reported as ``qbo_metrics_database_up 0``
instead of failing the whole scrape.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..models import Connection
from ..models import ConnectionStatus
from ..models import Inbox
from ..models import InboxStatus
from ..models import Outbox
from ..models import OutboxStatus
from ..models import utcnow
from ..state import get_qbo

if t.TYPE_CHECKING:
    from flask import Flask
    from prometheus_client import Metric

log = logging.getLogger(__name__)

#: (count, oldest timestamp) per label tuple.
_Depth = dict[tuple[str, ...], tuple[int, "dt.datetime | None"]]


class QueueCollector(Collector):
    """Yields the queue, connection and expiry gauges of ``apps`` at each collection."""

    def __init__(self, apps: t.Iterable[Flask], *, realm_label: bool) -> None:
        self.apps = apps
        self.realm_label = realm_label

    def collect(self) -> t.Iterator[Metric]:
        realm = ["realm"] if self.realm_label else []
        outbox = GaugeMetricFamily("qbo_outbox_rows", "Outbox rows (CRM → QBO) by status.", labels=["status", *realm])
        outbox_age = GaugeMetricFamily(
            "qbo_outbox_oldest_age_seconds", "Age of the oldest outbox row by status.", labels=["status", *realm]
        )
        inbox = GaugeMetricFamily("qbo_inbox_rows", "Inbox events (QBO → CRM) by status.", labels=["status", *realm])
        inbox_age = GaugeMetricFamily(
            "qbo_inbox_oldest_age_seconds", "Age of the oldest inbox event by status.", labels=["status", *realm]
        )
        conns = GaugeMetricFamily("qbo_connections", "Connections by state.", labels=["state", *realm])
        expiry = GaugeMetricFamily(
            "qbo_refresh_token_expiry_seconds",
            "Seconds until the soonest refresh-token expiry of a connected company.",
            labels=realm,
        )
        up = GaugeMetricFamily("qbo_metrics_database_up", "1 when the database could be read for these gauges.")
        now = utcnow()
        depth: dict[str, _Depth] = {"outbox": {}, "inbox": {}}
        states: dict[tuple[str, ...], int] = {}
        expiries: dict[tuple[str, ...], dt.datetime] = {}
        ok = True
        seen: set[str] = set()
        for app in list(self.apps):
            try:
                self._read(app, seen, depth, states, expiries)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("Could not read the QBO tables for metrics: %s", type(exc).__name__)
                ok = False
        if not self.realm_label:  # every status is a series, so an alert on zero-valued ones can fire
            for queue, kind in (("outbox", OutboxStatus), ("inbox", InboxStatus)):
                for value in kind:
                    depth[queue].setdefault((value.value,), (0, None))
            for state in ConnectionStatus:
                states.setdefault((state.value,), 0)
        for (family, age_family), rows in ((outbox, outbox_age), depth["outbox"]), ((inbox, inbox_age), depth["inbox"]):
            for labels, (count, oldest) in sorted(rows.items()):
                family.add_metric(list(labels), count)
                age_family.add_metric(list(labels), _seconds(now, oldest) if oldest else 0.0)
        for labels, count in sorted(states.items()):
            conns.add_metric(list(labels), count)
        for labels, when in sorted(expiries.items()):
            expiry.add_metric(list(labels), (when - now).total_seconds())
        up.add_metric([], 1 if ok else 0)
        yield from (outbox, outbox_age, inbox, inbox_age, conns, expiry, up)

    def _read(
        self,
        app: Flask,
        seen: set[str],
        depth: dict[str, _Depth],
        states: dict[tuple[str, ...], int],
        expiries: dict[tuple[str, ...], dt.datetime],
    ) -> None:
        with app.app_context():
            engine = get_qbo(app).state(app).db.engine
            key = engine.url.render_as_string(hide_password=True)
            if key in seen:
                return
            seen.add(key)
            with engine.connect() as conn:
                realms = {
                    tenant: realm
                    for tenant, realm in conn.execute(sa.select(Connection.tenant_key, Connection.realm_id))
                }
                outbox_rows = conn.execute(
                    sa.select(
                        Outbox.status, Outbox.tenant_key, sa.func.count(), sa.func.min(Outbox.created_at)
                    ).group_by(Outbox.status, Outbox.tenant_key)
                ).all()
                for status, tenant, count, oldest in outbox_rows:
                    self._add(depth["outbox"], self._labels(status, realms.get(tenant)), count, oldest)
                inbox_rows = conn.execute(
                    sa.select(Inbox.status, Inbox.realm_id, sa.func.count(), sa.func.min(Inbox.received_at)).group_by(
                        Inbox.status, Inbox.realm_id
                    )
                ).all()
                for state, realm_id, count, oldest in inbox_rows:
                    self._add(depth["inbox"], self._labels(state, realm_id), count, oldest)
                connections = conn.execute(
                    sa.select(
                        Connection.status,
                        Connection.realm_id,
                        Connection.refresh_expires_at,
                        Connection.refresh_hard_expires_at,
                    )
                ).all()
                for connection_state, realm, rolling, hard in connections:
                    labels = self._labels(connection_state, realm)
                    states[labels] = states.get(labels, 0) + 1
                    soonest = min((_aware(d) for d in (rolling, hard) if d is not None), default=None)
                    if connection_state == ConnectionStatus.CONNECTED and soonest is not None:
                        key_labels = labels[1:]
                        expiries[key_labels] = min(soonest, expiries.get(key_labels, soonest))

    def _labels(self, status: object, realm_id: str | None) -> tuple[str, ...]:
        value = str(getattr(status, "value", status))
        return (value, realm_id or "") if self.realm_label else (value,)

    @staticmethod
    def _add(rows: _Depth, labels: tuple[str, ...], count: int, oldest: dt.datetime | None) -> None:
        before, first = rows.get(labels, (0, None))
        oldest = _aware(oldest) if oldest is not None else None
        if first is not None and (oldest is None or first < oldest):
            oldest = first
        rows[labels] = (before + int(count), oldest)


def _aware(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)


def _seconds(now: dt.datetime, since: dt.datetime) -> float:
    return max((now - since).total_seconds(), 0.0)
