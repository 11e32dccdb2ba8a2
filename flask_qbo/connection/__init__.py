"""A tenant's link to a QuickBooks company: connect, reconnect, disconnect, token upkeep, health."""
