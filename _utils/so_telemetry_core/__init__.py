"""so_telemetry_core: the engine of so-telemetry, Security Onion's telemetry
as a Salt library. It decides every channel (SOC Telemetry, OS Updates
Telemetry, airgap) and everything rendered from that decision.

A plain package with no loader dunders: every function takes a
:class:`~so_telemetry_core.context.Context` (opts, grains, pillar, a reader
of the formula's files). The ``telemetry`` execution and state modules are
thin faces over it; the ``so-telemetry`` command uses it too. Minions get it
with ``saltutil.sync_all`` (``salt://_utils``); ``pip install`` ships it."""

__version__ = "0.3.0"

import importlib

# The submodules, imported on first use (``so_telemetry_core.<module>``): a
# highstate never pays for the preflight's or the audit's imports.
SUBMODULES = (
    "audit", "channels", "config", "consent", "context", "converge", "decide", "files", "hostcheck", "loadcheck",
    "observe",
    "preflight", "proxy", "query", "repo", "report", "saltcompat", "schedule", "secret", "soc", "timing", "trail",
    "validate", "wire",
)


def __getattr__(name):
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *SUBMODULES])


from .context import Context  # noqa: E402  pylint: disable=wrong-import-position

__all__ = ["Context", *SUBMODULES]
