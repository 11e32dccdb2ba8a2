"""Where the demo's configuration comes from: defaults, the instance folder, the environment.

The demo runs against the bundled emulator unless real Intuit credentials are
in the environment; then the same code talks to Intuit's sandbox or
production.  Nothing else changes, which is the point of the demo.
"""

from __future__ import annotations

import os
import secrets
import typing as t

from cryptography.fernet import Fernet

#: Environment variables copied into the app config when set.
QBO_ENV_KEYS = (
    "QBO_CLIENT_ID",
    "QBO_CLIENT_SECRET",
    "QBO_ENVIRONMENT",
    "QBO_REDIRECT_URI",
    "QBO_WEBHOOK_VERIFIER_TOKEN",
    "QBO_TOKEN_ENCRYPTION_KEY",
    "QBO_RUNNER",
    "QBO_TIMEZONE",
)

#: Where the demo looks for QuickBooks when no Intuit credentials are set: the
#: emulator that ``python -m demo_app`` starts, with its built-in client.
EMULATOR_DEFAULTS: dict[str, str] = {
    "QBO_ENVIRONMENT": "emulator",
    "QBO_EMULATOR_URL": "http://127.0.0.1:5055",
    "QBO_CLIENT_ID": "emulator-client-id",
    "QBO_CLIENT_SECRET": "emulator-client-secret",
    "QBO_WEBHOOK_VERIFIER_TOKEN": "emulator-verifier-token",
}

#: Logins created by :mod:`demo_app.seed`, printed when the demo starts.
DEMO_PASSWORD = "demo"


def intuit_mode(environ: t.Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for Intuit's sandbox or production with real credentials."""
    env = os.environ if environ is None else environ
    return (
        env.get("QBO_ENVIRONMENT") in ("sandbox", "production")
        and bool(env.get("QBO_CLIENT_ID"))
        and bool(env.get("QBO_CLIENT_SECRET"))
    )


def environment_problem(environ: t.Mapping[str, str] | None = None) -> str | None:
    """Why the environment cannot work, or ``None``: Intuit needs both client credentials.

    Without this check a half-set environment would silently fall back to the
    emulator's built-in client id and fail later at Intuit's sign-in page.
    """
    env = os.environ if environ is None else environ
    target = env.get("QBO_ENVIRONMENT")
    if target in ("sandbox", "production") and not intuit_mode(env):
        return (
            f"QBO_ENVIRONMENT={target} needs QBO_CLIENT_ID and QBO_CLIENT_SECRET from your app's Keys page "
            "at Intuit. Unset QBO_ENVIRONMENT to use the bundled emulator instead."
        )
    if target not in (None, "", "emulator", "sandbox", "production"):
        return f"QBO_ENVIRONMENT must be sandbox, production or emulator, not {target!r}."
    return None


def qbo_settings_from_env(environ: t.Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``QBO_*`` keys set in the environment (only those, so defaults stay in force)."""
    env = os.environ if environ is None else environ
    return {key: env[key] for key in QBO_ENV_KEYS if env.get(key)}


def instance_secret(instance_path: str, name: str, make: t.Callable[[], str]) -> str:
    """Read a generated secret from the instance folder, creating it on first use.

    Sessions and encrypted tokens must survive a restart of the demo, so the
    session key and the Fernet key are generated once and kept (mode 0600)
    next to the SQLite database rather than regenerated on every start.
    """
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, name)
    if os.path.exists(path):
        with open(path, encoding="ascii") as handle:
            value = handle.read().strip()
        if value:
            return value
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value)
    return value


def fill_secrets(config: t.MutableMapping[str, t.Any], instance_path: str) -> None:
    """Give the app a session key and a token-encryption key unless configured."""
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = instance_secret(instance_path, "secret_key", lambda: secrets.token_hex(32))
    if not config.get("QBO_TOKEN_ENCRYPTION_KEY"):
        config["QBO_TOKEN_ENCRYPTION_KEY"] = instance_secret(
            instance_path, "qbo_token_key", lambda: Fernet.generate_key().decode("ascii")
        )
