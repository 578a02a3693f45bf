"""fieldapp core: domain types, rules, local store and services for collection agents (no Qt)."""

__version__ = "0.1.0"
