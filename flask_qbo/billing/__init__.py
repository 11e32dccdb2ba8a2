"""Quote-to-cash from the contact page: estimates and invoices made, sent and followed through the outbox."""
