"""Claims shared between workers (``flask_qbo.sync.sharing.sharing``) on a real PostgreSQL.

Issue 16: one Celery worker claimed a whole backlog while the other found
nothing claimable and idled.  Here two claimers race for one backlog with the
interleaving forced: the first one stops right after its ``FOR UPDATE SKIP
LOCKED`` SELECT has locked its rows (its claim not committed yet), the second
claims in that moment, then the first goes on.  Shared, each gets half the
backlog and no row twice; unshared (the old rule), the second gets nothing.
"""

from __future__ import annotations

import threading
import typing as t

import pytest
import sqlalchemy as sa

from flask_qbo.models import Inbox
from flask_qbo.models import Outbox
from flask_qbo.models import utcnow
from flask_qbo.sync.queue import INBOX
from flask_qbo.sync.queue import OUTBOX
from flask_qbo.sync.sharing import sharing
from tests.hosts.adapter import Host
from tests.hosts.adapter import make_app

pytestmark = pytest.mark.postgres

BACKLOG = 10


def _claim_paused_after_lock(app: t.Any, share: int, locked: threading.Event, go_on: threading.Event) -> list[int]:
    """Claim up to 30 rows; stop after the locking SELECT until ``go_on`` is set."""
    host = Host("hostapp", app)
    with app.app_context():
        session = host.db.session

        def pause(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
            if "FOR UPDATE" in statement and "qbo_outbox" in statement:
                locked.set()
                assert go_on.wait(10), "the second claimer never finished"

        engine = session.get_bind()
        sa.event.listen(engine, "after_cursor_execute", pause)
        try:
            with sharing(share):
                return OUTBOX.claim_many(session, [Outbox.tenant_key == "acme"], 30, utcnow(), "first")
        finally:
            sa.event.remove(engine, "after_cursor_execute", pause)


@pytest.mark.parametrize(("share", "first", "second"), [(2, 5, 5), (1, BACKLOG, 0)])
def test_a_second_claimer_in_the_middle_of_a_claim_gets_its_share(
    pg: tuple[str, str], share: int, first: int, second: int
) -> None:
    apps = [make_app("hostapp", pg[0]), make_app("hostapp", pg[0])]
    hosts = [Host("hostapp", app) for app in apps]
    try:
        with apps[1].app_context():
            session = hosts[1].db.session
            session.add_all(Outbox(tenant_key="acme", contact_key=str(i)) for i in range(BACKLOG))
            session.commit()
        locked, go_on = threading.Event(), threading.Event()
        result: dict[str, list[int]] = {}
        thread = threading.Thread(
            target=lambda: result.update(first=_claim_paused_after_lock(apps[0], share, locked, go_on))
        )
        thread.start()
        try:
            assert locked.wait(10), "the first claimer never locked its rows"
            with apps[1].app_context(), sharing(share):  # the first claim holds its row locks now
                result["second"] = OUTBOX.claim_many(
                    hosts[1].db.session, [Outbox.tenant_key == "acme"], 30, utcnow(), "second"
                )
        finally:
            go_on.set()
            thread.join(10)
        assert (len(result["first"]), len(result["second"])) == (first, second)
        assert not set(result["first"]) & set(result["second"])
        with apps[1].app_context():
            ids = [row.id for row in hosts[1].db.session.query(Outbox).order_by(Outbox.id)]
            hosts[1].db.session.commit()
        assert result["first"] == ids[:first]  # oldest first
        assert sorted(result["first"] + result["second"]) == ids[: first + second]
    finally:
        for host in hosts:
            host.dispose()


def test_shared_claims_one_after_another_halve_what_is_left(pg: tuple[str, str]) -> None:
    app = make_app("hostapp", pg[0])
    host = Host("hostapp", app)
    try:
        with app.app_context():
            session = host.db.session
            session.add_all(
                Inbox(event_id=f"e{i}", realm_id="r1", entity="Customer", entity_id=str(i), operation="Update")
                for i in range(120)
            )
            session.commit()
            sizes = []
            with sharing(2):
                while claimed := INBOX.claim_many(session, [Inbox.realm_id == "r1"], 1000, utcnow(), "w"):
                    sizes.append(len(claimed))
            # Never all at once, never nothing while rows are due, and a rest under INBOX.least_share (25) is
            # taken whole: 30 is not halved into 15, 8, 4, 2, 1.
            assert sizes == [60, 30, 30]
            with sharing(2):  # the cap rounds up: a single due row is still claimed
                session.add(Inbox(event_id="last", realm_id="r1", entity="Customer", entity_id="1", operation="Update"))
                session.commit()
                assert len(INBOX.claim_many(session, [Inbox.realm_id == "r1"], 1000, utcnow(), "w")) == 1
            assert len(OUTBOX.claim_many(session, [Outbox.tenant_key == "none"], 30, utcnow(), "w")) == 0
    finally:
        host.dispose()
