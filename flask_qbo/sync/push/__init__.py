"""CRM -> QuickBooks: outbox rows become customer writes (one at a time or in batches)."""
