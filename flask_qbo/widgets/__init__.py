"""What the dashboard partials show: data read from the mirror, statement, formatting, deep links, names, balances owed."""
