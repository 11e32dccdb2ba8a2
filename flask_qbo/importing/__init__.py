"""The initial import: page every customer and transaction, propose matches, review, apply."""
