"""The alliance's view: contributions beyond data, compensation runs and contribution reports,
all computed from verified ledgers with the `consortium.credit` library."""
