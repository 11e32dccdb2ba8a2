"""Operations: what the people who run the servers see (metrics, and the doctor's checks).

A layer beside ``connection/``, ``importing/`` and ``widgets/``: it reads the
app's state and listens to the :mod:`flask_qbo.signals` the lower layers send,
so ``intuit/`` and ``sync/`` never import it.  :mod:`flask_qbo.ops.metrics`
needs the optional ``metrics`` extra (``prometheus_client``) and is imported
only when a host turns metrics on.
"""
