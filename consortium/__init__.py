"""consortium: federated research-data sharing with signed contracts and verifiable ledgers."""

__version__ = "0.1.0"
