"""so-telemetry: Security Onion telemetry as a Salt library. The engine is
``so_telemetry_core``; this package is the ``so-telemetry`` command and the
``salt.loader`` entry point."""

from so_telemetry_core import __version__  # noqa: F401  (the version is written once, in the engine)
