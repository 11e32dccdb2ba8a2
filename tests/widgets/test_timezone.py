"""Times in the app's timezone: QBO_TIMEZONE, else Flask-Babel's, else UTC; dates per locale as before."""

from __future__ import annotations

import datetime as dt
import sys
import types
import typing as t
from zoneinfo import ZoneInfo

import pytest

from flask_qbo.errors import QBOConfigError
from flask_qbo.models import Connection
from flask_qbo.models import ImportRun
from flask_qbo.models import ImportStatus
from flask_qbo.widgets.formatting import format_date
from flask_qbo.widgets.formatting import format_datetime
from tests.conftest import login
from tests.hostapp import ACME_ADMIN
from tests.hostapp import db
from tests.hostapp import make_app

UTC = dt.timezone.utc


def test_default_is_utc(app: t.Any) -> None:
    with app.app_context():
        assert format_datetime(dt.datetime(2026, 3, 5, 14, 3, tzinfo=UTC)) == "Mar 5, 2026 14:03 UTC"
        assert format_datetime(dt.datetime(2026, 3, 5, 14, 3)) == "Mar 5, 2026 14:03 UTC"  # stored naive = UTC


def test_qbo_timezone_converts_times_and_the_dates_of_datetimes(app: t.Any) -> None:
    app.config["QBO_TIMEZONE"] = "America/New_York"
    with app.app_context():
        late = dt.datetime(2026, 3, 6, 2, 3, tzinfo=UTC)
        assert format_datetime(late) == "Mar 5, 2026 21:03 EST"
        assert format_date(late) == "Mar 5, 2026"  # the day it was in New York
        assert format_date(dt.date(2026, 3, 6)) == "Mar 6, 2026"  # a plain date is never shifted


def test_daylight_saving_time_is_applied_per_instant(app: t.Any) -> None:
    app.config["QBO_TIMEZONE"] = "Europe/Berlin"
    with app.app_context():
        # Berlin moved to CEST at 01:00 UTC on 29 March 2026.
        assert format_datetime(dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == "Mar 29, 2026 01:59 CET"
        assert format_datetime(dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == "Mar 29, 2026 03:00 CEST"
        assert format_datetime(dt.datetime(2026, 10, 25, 1, 0, tzinfo=UTC)) == "Oct 25, 2026 02:00 CET"


def test_dates_still_follow_the_locale(app: t.Any) -> None:
    app.config.update(QBO_TIMEZONE="Europe/Paris", QBO_LOCALE="fr_FR")
    with app.app_context():
        assert format_datetime(dt.datetime(2026, 3, 5, 22, 30, tzinfo=UTC)) == "5 mars 2026 23:30 CET"


def _fake_flask_babel(monkeypatch: pytest.MonkeyPatch, app: t.Any, zone: dt.tzinfo) -> None:
    """Flask-Babel as a host configures it: an extension entry and get_timezone() for the request."""
    module = types.ModuleType("flask_babel")
    module.get_timezone = lambda: zone  # type: ignore[attr-defined]
    module.get_locale = lambda: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "flask_babel", module)
    monkeypatch.setitem(app.extensions, "babel", object())


def test_flask_babels_timezone_is_used_without_qbo_timezone(app: t.Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_flask_babel(monkeypatch, app, ZoneInfo("Asia/Tokyo"))
    with app.app_context():
        assert format_datetime(dt.datetime(2026, 3, 5, 16, 0, tzinfo=UTC)) == "Mar 6, 2026 01:00 JST"
    app.config["QBO_TIMEZONE"] = "Europe/London"  # the extension's own setting wins
    with app.app_context():
        assert format_datetime(dt.datetime(2026, 7, 5, 16, 0, tzinfo=UTC)) == "Jul 5, 2026 17:00 BST"


def test_an_unknown_timezone_fails_at_start_up() -> None:
    with pytest.raises(QBOConfigError, match="QBO_TIMEZONE"):
        make_app(QBO_TIMEZONE="Mars/Olympus_Mons")


def test_admin_pages_show_times_in_the_apps_timezone(app: t.Any, client: t.Any, connected: t.Any) -> None:
    with app.app_context():
        row = db.session.query(Connection).one()
        row.connected_at = dt.datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
        row.last_webhook_at = dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
        db.session.commit()
    app.config["QBO_TIMEZONE"] = "Europe/Berlin"
    login(client, ACME_ADMIN)
    health = client.get("/qbo/admin/health").get_data(as_text=True)
    assert "Feb 1, 2026 00:30 CET" in health and "Jul 1, 2026 14:00 CEST" in health
    assert "UTC" not in health
    addons = client.get("/qbo/admin/").get_data(as_text=True)
    assert "since Feb 1, 2026" in addons  # the connection panel dates the day in Berlin


def test_the_import_page_dates_the_last_import_in_the_apps_timezone(
    app: t.Any, client: t.Any, connected: t.Any
) -> None:
    with app.app_context():
        db.session.add(
            ImportRun(
                tenant_key="acme",
                realm_id=connected.realm_id,
                status=ImportStatus.DONE,
                applied=3,
                finished_at=dt.datetime(2026, 5, 31, 22, 15, tzinfo=UTC),
            )
        )
        db.session.commit()
    app.config["QBO_TIMEZONE"] = "Australia/Sydney"
    login(client, ACME_ADMIN)
    page = client.get("/qbo/import/").get_data(as_text=True)
    assert "finished on Jun 1, 2026 08:15 AEST" in page
