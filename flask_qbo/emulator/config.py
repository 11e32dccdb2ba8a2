"""Settings for one emulator instance.

Everything that a test might want to vary lives here, so an emulator can be
built in one expression and two emulators never share state through globals.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from .settings import CompanySettings


@dataclass
class EmulatorConfig:
    """Configuration of an :class:`~flask_qbo.emulator.Emulator`.

    The defaults mirror the limits QBO publishes (see ``qbo-api-facts.md``);
    where Intuit's figures are uncertain the chosen value is noted.
    """

    #: One origin serves the OAuth pages, the token endpoint and the v3 API, so a
    #: client only needs its base URLs pointed here.
    base_url: str = "http://qbo.emulator.test"
    #: ``iss`` of every ID token and ``issuer`` of the discovery document; ``None`` means
    #: ``<base_url>/op/v1``. Set ``"https://oauth.platform.intuit.com/op/v1"`` to serve a
    #: client that pins Intuit's issuer.
    issuer: str | None = None
    client_id: str = "emulator-client-id"
    client_secret: str = "emulator-client-secret"
    #: Registered redirect URIs for ``client_id``; ``"*"`` accepts any URI.
    redirect_uris: tuple[str, ...] = ("*",)
    webhook_url: str | None = None
    webhook_verifier_token: str = "emulator-verifier-token"
    #: ``"cloudevents"`` (the format Intuit is migrating every app to) or ``"legacy"``.
    webhook_format: str = "cloudevents"
    #: Divides throttle windows and webhook delays, so a 60 s window lasts
    #: ``60 / time_scale`` seconds and retry tests run in milliseconds.
    time_scale: float = 1.0
    #: Skip the sign-in pages of the authorize endpoint (automated tests).
    auto_approve: bool = False
    #: Company-local offset used in every timestamp the API returns.
    utc_offset: str = "-07:00"
    #: Requests per minute per realm (batch calls included).
    rate_per_minute: int = 500
    #: Requests in flight at once per realm.
    max_concurrent: int = 10
    #: Batch calls per minute per realm. Intuit documents 40 and later announced
    #: an additional 120; the stricter 40 is the default.
    batch_per_minute: int = 40
    #: Items allowed in one batch request.
    batch_max_items: int = 30
    #: Properties this company refuses in an ``IN (...)`` filter, with a 4001 (e.g.
    #: ``("PrimaryEmailAddr",)``).  Intuit lists ``IN`` and the property as filterable, but
    #: not whether every company accepts the two together; clients that fall back test
    #: against this.
    refused_in: tuple[str, ...] = ()
    #: How far back ``changedSince`` may reach on the CDC endpoint.
    cdc_window_days: int = 30
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 8726400
    #: Five-year hard cap on a grant (Intuit's 2025 refresh-token policy).
    refresh_token_hard_ttl: int = 157_680_000
    #: How long a superseded refresh token keeps working after rotation.
    refresh_grace_seconds: int = 86400
    #: How long an authorization code can be exchanged (not published by Intuit).
    auth_code_ttl: int = 600
    #: Seconds a webhook endpoint has to answer before the attempt counts as failed.
    webhook_timeout: float = 3.0
    #: Seconds the standalone server stalls on an injected timeout fault.
    server_timeout_stall: float = 35.0
    home_currency: tuple[str, str] = ("USD", "United States Dollar")
    #: How a company is set up when :meth:`~flask_qbo.emulator.Emulator.add_company` gets no settings.
    company_settings: CompanySettings = field(default_factory=CompanySettings)
    default_user: tuple[str, str] = field(default=("admin@example.com", "password"))

    def scaled(self, seconds: float) -> float:
        """Return ``seconds`` shrunk by :attr:`time_scale` (never below zero)."""
        return max(0.0, seconds / self.time_scale) if self.time_scale > 0 else seconds
