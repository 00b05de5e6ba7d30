"""so-telemetry: Security Onion telemetry as a Salt library."""

__version__ = "0.1.0"
