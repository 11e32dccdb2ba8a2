"""The doctor's check groups, one module each: settings, services, schema, runner, connections.

Each group is a function ``check(qbo, app, ...) -> list[Finding]`` that reads
the configuration, the database or a service and never writes anything, so
``flask qbo doctor`` is safe to run against production at any time.
"""
