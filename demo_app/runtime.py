"""Serving helpers shared by ``python -m demo_app`` and the end-to-end tests.

Both run the CRM and the QBO emulator as real HTTP servers on loopback ports
in one process, so a browser sees two separate sites, exactly like a CRM and
Intuit, while nothing leaves the machine.
"""

from __future__ import annotations

import os
import threading
import typing as t

from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

if t.TYPE_CHECKING:
    from flask_qbo.emulator import Emulator


def bind(host: str, port: int) -> BaseWSGIServer:
    """Open the listening socket now (``port=0`` picks a free one); the app is set by :func:`serve`.

    Binding first tells each side the other's URL (the emulator needs the
    CRM's webhook URL, the CRM needs the emulator's) before either app exists.
    Threaded, because one page fires several htmx requests at once.
    """
    return make_server(host, port, _not_ready, threaded=True)


def url_of(server: BaseWSGIServer) -> str:
    return f"http://{server.host}:{server.server_port}"


def serve(server: BaseWSGIServer, wsgi_app: t.Any, name: str) -> threading.Thread:
    """Serve ``wsgi_app`` on a bound server from a daemon thread."""
    server.app = wsgi_app
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    return thread


def build_emulator(base_url: str, webhook_url: str, data_path: str | None = None) -> Emulator:
    """The emulator with the two demo companies, sending webhooks to the CRM.

    With ``data_path``, companies saved by a previous run are loaded (so QBO
    keeps the edits made there, as the CRM's database keeps its own); otherwise
    they are seeded.  Either happens before the webhook URL is set, so the
    history never reaches the CRM as a burst of Create notifications.
    """
    from flask_qbo.emulator import Emulator
    from flask_qbo.emulator import EmulatorConfig
    from flask_qbo.emulator.seed import seed_demo
    from flask_qbo.emulator.snapshot import load

    emu = Emulator(EmulatorConfig(base_url=base_url, webhook_url=None))
    if data_path and os.path.exists(data_path):
        load(emu, data_path)
    else:
        seed_demo(emu)
    emu.webhooks.configure(url=webhook_url)
    return emu


def save_emulator(emu: Emulator, data_path: str) -> None:
    """Keep the emulator's companies for the next run (tokens are not kept: see :func:`reattach`)."""
    from flask_qbo.emulator.snapshot import save

    save(emu, data_path)


def reattach(app: Flask, emu: Emulator) -> list[str]:
    """Give connections made in an earlier run fresh emulator tokens; returns their tenant keys.

    The emulator keeps its tokens in memory only, so after a restart every
    stored refresh token would be unknown to it and the admin would have to
    reconnect.  Intuit keeps tokens, so this is only ever done for the
    emulator, and only for connections that were live (a disconnect stays).
    """
    from flask_qbo import get_qbo
    from flask_qbo.intuit.oauth import apply_token
    from flask_qbo.models import Connection

    realms = {realm for realm, _name in emu.store.companies()}
    with app.app_context():
        state = get_qbo(app).state(app)
        connections = [
            conn
            for conn in state.db.session.query(Connection).filter(
                Connection.environment == "emulator", Connection.status.in_(("connected", "needs_reconnect"))
            )
            if conn.realm_id in realms
        ]
        tenants = [conn.tenant_key for conn in connections]
        for conn in connections:
            apply_token(conn, emu.issue_tokens(conn.realm_id, client_id=app.config["QBO_CLIENT_ID"]), state.cipher)
            conn.status = "connected"
            conn.status_reason = None
        state.db.session.commit()
        return tenants


def emulator_settings(base_url: str) -> dict[str, t.Any]:
    """App config that points Flask-QBO at the emulator at ``base_url`` over HTTP, as at Intuit."""
    from flask_qbo.emulator import EmulatorConfig

    defaults = EmulatorConfig(base_url=base_url)
    return {
        "QBO_ENVIRONMENT": "emulator",
        "QBO_EMULATOR_URL": base_url,
        "QBO_CLIENT_ID": defaults.client_id,
        "QBO_CLIENT_SECRET": defaults.client_secret,
        "QBO_WEBHOOK_VERIFIER_TOKEN": defaults.webhook_verifier_token,
    }


def _not_ready(_environ: t.Any, start_response: t.Any) -> list[bytes]:
    """Answers while the real app is still being built."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting, try again in a moment"]
