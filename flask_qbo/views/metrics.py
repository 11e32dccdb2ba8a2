"""The metrics endpoint: ``GET <QBO_URL_PREFIX>/metrics`` in Prometheus' text format, HTTP only.

Mounted only with ``QBO_METRICS_ENDPOINT``, and refused (403) unless the
request passes the host's ``@qbo.metrics_access`` hook or carries
``Authorization: Bearer <QBO_METRICS_TOKEN>``, compared in constant time and
never logged.  Queue names, error codes and latencies tell an outsider how the
business runs, so nothing is served by default, like the admin pages.
"""

from __future__ import annotations

import hmac

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from flask.typing import ResponseReturnValue

from ..config import get_config
from ..errors import QBOConfigError
from ..state import get_qbo

bp = Blueprint("qbo_metrics", __name__)


def _bearer_ok() -> bool:
    """True when the request carries ``QBO_METRICS_TOKEN`` as its bearer token."""
    expected = get_config("QBO_METRICS_TOKEN")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), str(expected).encode())


@bp.route("/metrics")
def metrics() -> ResponseReturnValue:
    """The app's metrics, for a scraper the host allowed."""
    if not (get_qbo()._may_scrape() or _bearer_ok()):
        return Response(
            "Forbidden: metrics need @qbo.metrics_access or QBO_METRICS_TOKEN.\n", 403, mimetype="text/plain"
        )
    from ..ops.metrics import exposition  # the metrics extra (prometheus_client) is optional

    try:
        body, content_type = exposition(current_app._get_current_object())  # type: ignore[attr-defined]
    except QBOConfigError as exc:
        return Response(f"{exc}\n", 404, mimetype="text/plain")
    return Response(body, 200, content_type=content_type)
