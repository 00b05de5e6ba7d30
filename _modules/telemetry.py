"""
Security Onion telemetry: what leaves the network, and why.

The public face of the so-telemetry engine (``so_telemetry_core``, synced
from ``salt://_utils`` or installed with pip): each function is a few lines
over it. Every SLS and state of this library asks the same engine; nothing
else decides whether SOC Telemetry or the OS Updates Telemetry is on.

Returns never carry a secret: a proxy password is shown as ``******`` (the
master's job cache keeps every return).
"""

try:
    import so_telemetry_core as core
except ImportError as exc:  # neither synced (salt://_utils) nor installed
    core, _MISSING = None, exc

__virtualname__ = "telemetry"


def __virtual__():
    global core  # pylint: disable=global-statement
    if core is None:
        return False, f"so_telemetry_core is missing ({_MISSING}): run saltutil.sync_all, or pip install so-telemetry"
    core, why = core.loadcheck.check(__file__)
    return (False, why) if why else __virtualname__


def _ctx():
    return core.Context.from_loader(__opts__, __grains__, __pillar__, __salt__, __context__)


def _failed(result):
    if not result["result"]:
        __context__["retcode"] = 1
    return result


def settings(channel=None):
    """
    The effective state of each channel (``soc``, ``os_updates``) and of
    airgap, each with the reason. A bad pillar value is an error naming the
    key; with ``channel`` only that channel's keys must be valid.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.settings
        salt-call telemetry.settings soc
    """
    return core.decide.settings(_ctx(), channel)


def manager_like():
    """
    Whether this node's ``role`` grain is manager-like
    (``global:manager_roles``): it mirrors upstream and serves SOC.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.manager_like
    """
    return core.decide.manager_like(_ctx())


def query_params():
    """
    The exact query parameters the upstream repository URLs carry now: empty
    when OS updates are off, the grid is airgapped or the node is not
    manager-like.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.query_params
    """
    return core.query.params(_ctx())


def report():
    """
    The transparency report: per channel on/off and why, the destination
    hosts, every field with its exact value (OS updates) or category (SOC),
    TLS, retention, the proxy (password masked), owners and host checks, and
    how to change it.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.report
    """
    return core.report.report(_ctx())


def audit():
    """
    Scan every rendered file for URLs naming an external host (only the
    library's own keys of ``soc.json``). On an airgapped node any external
    host is a failure; elsewhere a host outside the expected destinations is,
    and so is a host-owned artefact that does not match the setting. Sets
    the exit code on failure.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.audit
    """
    return _failed(core.audit.audit(_ctx()))


def check(dry_run=False, timeout=10, ca_bundle=None):
    """
    Network preflight of exactly the destinations this node contacts for OS
    updates (and, listed only, SOC Telemetry's Tag Manager, which the
    analysts' browsers load): per destination the exact request and, unless
    ``dry_run``, one GET of it (through ``manager:proxy`` when it applies),
    each bounded by ``timeout`` seconds. Airgapped: no connection and no DNS
    lookup at all. Sets the exit code when a destination does not answer.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.check dry_run=True
        salt '*' telemetry.check
        salt-call telemetry.check timeout=5 ca_bundle=/etc/pki/tls/certs/ca-bundle.crt
    """
    return _failed(core.preflight.check(_ctx(), dry_run=dry_run, timeout=timeout, ca_bundle=ca_bundle))


def config(comp, strict=True):
    """
    The merged map of one component: ``salt://so_telemetry/<comp>/defaults.yaml``
    with the pillar of the same name merged over it (mappings merge, lists
    replace, a schedule's timing replaces the default timing): the one merge
    rule, which every ``map.jinja`` reads. Secrets are masked. With
    ``strict=False`` a component pillar that is not a mapping gives the
    defaults (what the ``clean`` states use).

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.config soc
    """
    return core.config.shown(_ctx(), comp, strict)


def paths(strict=True):
    """
    Where each file artefact lives on this node, ``{artefact: path}`` (under
    the minion option ``so_telemetry_root`` when set). With ``strict=False``
    a bad pillar falls back to the defaults, so the clean states always find
    the files.

    CLI Example:

    .. code-block:: bash

        salt-call telemetry.paths
    """
    return core.files.artefact_paths(_ctx(), strict)


def converged():
    """
    Whether what this node has rendered and scheduled now matches what the
    current pillar (rendered afresh, not the copy this minion holds) decides
    for it: per artefact, converged or what differs
    (``analytics.js loads Tag Manager; pillar says off``), SOC Telemetry and
    OS updates as its files and jobs have them, and when its last highstate
    ran. Read-only: no state runs, nothing is written.

    CLI Example:

    .. code-block:: bash

        salt '*' telemetry.converged
    """
    pillar = core.converge.fresh_pillar(__opts__, __grains__)
    return core.converge.converged(core.Context.from_loader(__opts__, __grains__, pillar, __salt__, __context__))
