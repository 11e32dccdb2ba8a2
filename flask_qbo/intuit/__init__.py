"""Speaking Intuit's protocols: HTTP client, faults, throttle, OAuth tokens, encryption, query text.

This layer knows QuickBooks and nothing of the CRM's contacts; it sits right above
the base modules (models, fieldmap, config, errors, signals, state).
"""
