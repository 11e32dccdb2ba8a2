"""QuickBooks -> CRM: inbox events and CDC polls become mirror rows and contact edits."""
