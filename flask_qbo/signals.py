"""Blinker signals sent by Flask-QBO.

The sender is always the Flask application object (not the ``current_app`` proxy),
so a receiver can connect for one app only.  Keyword arguments are listed under
each signal.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

connected = _signals.signal("qbo-connected")
"""A tenant connected a QBO company.  kwargs: ``connection``, ``user``."""

disconnected = _signals.signal("qbo-disconnected")
"""A connection was disconnected.  kwargs: ``connection``, ``purged`` (bool)."""

token_rotated = _signals.signal("qbo-token-rotated")
"""Tokens were refreshed and stored.  kwargs: ``connection`` (never the tokens)."""

needs_reconnect = _signals.signal("qbo-needs-reconnect")
"""Refresh failed for good; an admin must reconnect.  kwargs: ``connection``, ``reason``."""

expiry_warning = _signals.signal("qbo-expiry-warning")
"""The refresh token expires soon; an admin should reconnect.  kwargs: ``connection``,
``days`` (the threshold crossed, e.g. 30 or 7), ``expires_at``."""

pushed = _signals.signal("qbo-pushed")
"""A contact was written to QBO.  kwargs: ``contact_key``, ``qbo_id``, ``operation``, ``fields``."""

pulled = _signals.signal("qbo-pulled")
"""A QBO change was applied locally.  kwargs: ``realm_id``, ``entity``, ``qbo_id``, ``contact_key``."""

sync_failed = _signals.signal("qbo-sync-failed")
"""A push or pull failed in a way a person must look at.  kwargs: ``contact_key``, ``error``."""

conflict = _signals.signal("qbo-conflict")
"""Both sides changed the same field.  kwargs: ``contact_key``, ``field``, ``crm_value``,
``qbo_value``, ``winner``, and the two times newest-wins compared, ``crm_changed_at`` and
``qbo_changed_at`` (aware datetimes, or None when unknown)."""
