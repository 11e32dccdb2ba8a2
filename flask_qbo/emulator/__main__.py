"""Run the QBO emulator as a real HTTP server.

``python -m flask_qbo.emulator`` serves the OAuth pages, the v3 API, webhook
delivery and the deep-link web UI on one origin, seeded with the demo companies
(or loaded from ``--data``).  It listens on ``127.0.0.1:5055``, the default of
``QBO_EMULATOR_URL``, so a host set to ``QBO_ENVIRONMENT = "emulator"`` finds it
with no other setting. The demo CRM, the end-to-end tests and the
benchmarks all talk to it exactly as they would talk to Intuit.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import typing as t

from werkzeug.serving import run_simple

from . import Emulator
from . import EmulatorConfig
from .openid import issuer
from .seed import DEMO_SEED
from .seed import seed_demo
from .snapshot import load
from .snapshot import save


def parse_args(argv: t.Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flask_qbo.emulator",
        description="Local QuickBooks Online emulator: OAuth, v3 API, webhooks and web UI.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=5055, help="port to listen on (default %(default)s)")
    parser.add_argument(
        "--data",
        metavar="FILE",
        help="JSON snapshot: loaded at start if it exists (else the demo data is seeded) and saved on exit",
    )
    parser.add_argument(
        "--seed", type=int, default=DEMO_SEED, help="random seed for the demo data (default %(default)s)"
    )
    parser.add_argument("--webhook-url", default=None, help="where to POST webhook notifications")
    parser.add_argument(
        "--webhook-format",
        choices=("cloudevents", "legacy"),
        default="cloudevents",
        help="webhook payload format (default %(default)s)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="divide throttle windows and webhook delays by this factor (default %(default)s)",
    )
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="skip the sign-in and consent pages of the authorize endpoint",
    )
    parser.add_argument(
        "--issuer",
        default=None,
        help="OpenID issuer for discovery and every ID token's iss, e.g. Intuit's "
        "https://oauth.platform.intuit.com/op/v1 for a client that pins it (default: <base URL>/op/v1)",
    )
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    return args


def build_emulator(args: argparse.Namespace) -> Emulator:
    """Build and populate the emulator described by ``args``.

    Data is seeded (or loaded) before the webhook URL is configured, so the
    demo history never reaches the listener as a burst of Create events.
    """
    emu = Emulator(
        EmulatorConfig(
            base_url=f"http://{args.host}:{args.port}",
            webhook_url=None,
            webhook_format=args.webhook_format,
            time_scale=args.time_scale,
            auto_approve=args.auto_approve,
            issuer=args.issuer,
        )
    )
    if args.data and os.path.exists(args.data):
        load(emu, args.data)
    else:
        seed_demo(emu, seed=args.seed)
    if args.webhook_url:
        emu.webhooks.configure(url=args.webhook_url)
    return emu


def banner(emu: Emulator, webhook_url: str | None) -> str:
    """What a developer needs to point a client at this emulator."""
    config = emu.config
    user, password = config.default_user
    lines = [
        "QuickBooks Online emulator",
        f"  base URL         {config.base_url}",
        f"  discovery        {config.base_url}/.well-known/openid_configuration",
        f"  OpenID issuer    {issuer(config)}",
        f"  web UI           {config.base_url}/app/customers",
        f"  client id        {config.client_id}",
        f"  client secret    {config.client_secret}",
        f"  verifier token   {config.webhook_verifier_token}",
        f"  sign in as       {user} / {password}",
        f"  webhooks         {webhook_url or '(none)'} ({config.webhook_format})",
        "  companies",
    ]
    lines += [f"    {realm}  {name}" for realm, name in emu.store.companies()]
    return "\n".join(lines)


def main(argv: t.Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    emu = build_emulator(args)
    print(banner(emu, args.webhook_url), flush=True)
    # SIGTERM (what test harnesses and process managers send) must still run the
    # ``finally`` below so --data is saved; turning it into SystemExit does that.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(0))
    emu.webhooks.start()
    try:
        run_simple(args.host, args.port, emu.app, threaded=True, use_reloader=False)
    except KeyboardInterrupt:
        pass
    finally:
        emu.webhooks.stop()
        if args.data:
            save(emu, args.data)
            print(f"saved emulator data to {args.data}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
