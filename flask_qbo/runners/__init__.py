"""What runs queued work: the embedded thread and the Celery tasks.

A runner drives work of several layers (push and pull from :mod:`flask_qbo.sync`,
token upkeep from :mod:`flask_qbo.connection`), so it sits above them; lower layers
wake it through the app's state, never by importing it.
"""
