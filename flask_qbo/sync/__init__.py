"""The sync engine: the outbox and inbox queues, capture, payloads, merge, push and pull."""
