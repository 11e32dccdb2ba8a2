"""``python -m demo_app`` (``make demo``): the demo CRM with the QBO emulator beside it.

Without Intuit credentials in the environment, the emulator is started in this
process on its own port (``--emulator-port``, else ``DEMO_EMULATOR_PORT``,
default 5055) and the CRM (``--port``, else ``DEMO_PORT``, default 5000)
connects to it over HTTP, fully offline.  ``--help`` says so and starts nothing.  With
``QBO_ENVIRONMENT=sandbox|production`` plus ``QBO_CLIENT_ID`` and
``QBO_CLIENT_SECRET`` set, no emulator is started and the same CRM talks to Intuit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import typing as t

from . import create_app
from .runtime import bind
from .runtime import build_emulator
from .runtime import emulator_settings
from .runtime import reattach
from .runtime import save_emulator
from .runtime import serve
from .runtime import url_of
from .seed import LOGINS
from .seed import seed
from .settings import DEMO_PASSWORD
from .settings import environment_problem
from .settings import intuit_mode

if t.TYPE_CHECKING:
    from flask_qbo.emulator import Emulator


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    if not (value.isascii() and value.isdigit()):
        raise SystemExit(f"{name} must be a port number, not {value!r}.")
    return int(value)


def _arguments(argv: t.Sequence[str] | None) -> argparse.Namespace:
    """The command line; an option wins over its environment variable, which wins over the default."""
    parser = argparse.ArgumentParser(
        prog="python -m demo_app",
        description="The demo CRM with the QuickBooks Online emulator beside it (offline), or with Intuit "
        "when QBO_ENVIRONMENT, QBO_CLIENT_ID and QBO_CLIENT_SECRET are set.",
        epilog="Also read from the environment: DEMO_HOST (default 127.0.0.1), DEMO_PORT, DEMO_EMULATOR_PORT, "
        "DEMO_EMULATOR_DATA. Stop with Ctrl+C.",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="the demo CRM's port (DEMO_PORT, default 5000; 0: any free port)"
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=None,
        help="the QuickBooks emulator's port (DEMO_EMULATOR_PORT, default 5055; 0: any free port)",
    )
    return parser.parse_args(argv)


def main(argv: t.Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    problem = environment_problem()
    if problem:
        raise SystemExit(problem)
    host = os.environ.get("DEMO_HOST", "127.0.0.1")
    crm_server = bind(host, args.port if args.port is not None else _port("DEMO_PORT", 5000))
    crm_url = url_of(crm_server)
    lines = ["", f"Demo CRM            {crm_url}"]
    emu: Emulator | None = None
    if intuit_mode():
        app = create_app()
        lines.append(f"QuickBooks          Intuit {os.environ['QBO_ENVIRONMENT']} (no emulator started)")
    else:
        emu_port = args.emulator_port if args.emulator_port is not None else _port("DEMO_EMULATOR_PORT", 5055)
        emu_server = bind(host, emu_port)
        app = create_app(emulator_settings(url_of(emu_server)))
        emu = build_emulator(url_of(emu_server), crm_url + "/qbo/webhooks", _emulator_data(app))
        serve(emu_server, emu.app, "qbo-emulator-http")
        emu.webhooks.start()
        reattach(app, emu)
        user, password = emu.config.default_user
        lines += [
            f"QuickBooks emulator {emu.config.base_url}  (sign in there as {user} / {password})",
            f"  its customers     {emu.config.base_url}/app/customers",
        ]
    with app.app_context():
        seed()
    lines.append(f"Logins (password: {DEMO_PASSWORD})")
    lines += [f"  {email:<20} {role:<6} {account}" for account, email, _name, role in LOGINS]
    lines.append("Press Ctrl+C to stop.")
    print("\n".join(lines), flush=True)
    # SIGTERM (process managers) must reach the ``finally`` below, like Ctrl+C does.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    crm_server.app = app
    try:
        crm_server.serve_forever()
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        if emu is not None:
            emu.webhooks.stop()
            save_emulator(emu, _emulator_data(app))
    return 0


def _emulator_data(app: t.Any) -> str:
    """Where the emulator's companies are kept between runs: next to the CRM's database."""
    return os.environ.get("DEMO_EMULATOR_DATA") or os.path.join(app.instance_path, "emulator.json")


if __name__ == "__main__":
    sys.exit(main())
