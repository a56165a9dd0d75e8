"""Federation: the consortium's membership, and what nodes do for each other."""
