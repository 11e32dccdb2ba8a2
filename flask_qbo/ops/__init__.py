"""What the people who run the servers use: the doctor (and the metrics).

``ops`` sits at the level of :mod:`flask_qbo.connection`: it reads the sync
layers' tables and the app's state, and nothing below imports it.  Low layers
report events through :mod:`flask_qbo.signals`, never by calling ``ops``.
"""
