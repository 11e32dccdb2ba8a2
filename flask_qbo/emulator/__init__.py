"""A local QuickBooks Online for tests, demos and benchmarks.

``Emulator`` serves Intuit's OAuth endpoints and the v3 Accounting API from one
Flask app; ``WSGIAdapter`` lets ``requests`` reach it (or any WSGI app) without
sockets. See ``docs/emulator.rst``.
"""

from __future__ import annotations

from .app import Emulator
from .app import EmulatorUser
from .config import EmulatorConfig
from .errors import EmulatorFault
from .settings import CompanySettings
from .transport import WSGIAdapter

__all__ = ["CompanySettings", "Emulator", "EmulatorConfig", "EmulatorFault", "EmulatorUser", "WSGIAdapter"]
