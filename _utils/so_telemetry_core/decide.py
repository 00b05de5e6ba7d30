"""The decision: airgap, role and the two channels, each with its reason.

* Airgapped = grain ``airgap`` true OR pillar ``global:airgap`` true. A value
  that is not a recognisable boolean counts as airgapped (fail closed).
* SOC Telemetry = pillar ``soc:telemetryEnabled`` and not airgapped.
* OS updates = pillar ``patch:os:enabled`` and not airgapped; manager-like
  roles carry the telemetry query on their upstream repository requests.
* Grains (which a minion controls) can only ever turn telemetry off.

The decision is made once per context (:func:`decision`); a broken channel
does not hold up the other: it shows as off with the error as its reason, and
only asking for that channel raises the error."""

from . import timing
from .channels import TELEMETRY
from .config import component, origin, require
from .validate import PillarError, strict_bool

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def parse_airgap(value):
    """``(airgapped, malformed)`` for a grain or pillar airgap value."""
    if isinstance(value, bool):
        return value, False
    if isinstance(value, int) and value in (0, 1):
        return bool(value), False
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True, False
        if low in _FALSE:
            return False, False
    return True, True


def airgap(ctx):
    """``{"enabled", "sources", "malformed", "reason"}``."""
    sources, malformed = [], []
    if "airgap" in ctx.grains:
        on, bad = parse_airgap(ctx.grains["airgap"])
        if bad:
            malformed.append(f"grain airgap={ctx.grains['airgap']!r} is not a boolean")
        if on:
            sources.append("grain")
    pil_value = component(ctx, "global").get("airgap", False)
    on, bad = parse_airgap(pil_value)
    if bad:
        malformed.append(f"pillar global:airgap={pil_value!r} is not a boolean")
    if on:
        sources.append("pillar")
    parts = []
    if malformed:
        parts.append("malformed value counts as airgapped (fail closed): " + "; ".join(malformed))
    for src in sources:
        if not any(m.startswith(f"{src} ") for m in malformed):
            parts.append({"grain": "grain airgap is true", "pillar": "pillar global:airgap is true"}[src])
    reason = " and ".join(parts) or "neither grain airgap nor pillar global:airgap is true"
    return {"enabled": bool(sources), "sources": sources, "malformed": malformed, "reason": reason}


def manager_like(ctx):
    """Whether the ``role`` grain is one of ``global:manager_roles``."""
    roles = component(ctx, "global").get("manager_roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise PillarError(
            f"pillar key 'global:manager_roles' must be a list of role names, got {roles!r}", "global:manager_roles"
        )
    role = ctx.grains.get("role")
    return isinstance(role, str) and role in roles


def _soc_switch(ctx):
    return strict_bool(component(ctx, "soc").get("telemetryEnabled"), "soc:telemetryEnabled")


def _os_switch(ctx):
    patch = component(ctx, "patch")
    value = strict_bool(require(patch, "os:enabled", "patch:os:enabled"), "patch:os:enabled")
    timing.choice(patch)  # a bad schedule breaks the channel, not just its job
    return value


class Decision:
    """Everything :func:`settings` says, computed once; ``errors`` holds the
    pillar error of each broken channel."""

    def __init__(self, ctx):
        self.airgap = airgap(ctx)
        self.manager_like = manager_like(ctx)
        self.role = ctx.grains.get("role")
        self.errors = {}
        soc_pillar = self._switch("soc", lambda: _soc_switch(ctx))
        os_pillar = self._switch("os_updates", lambda: _os_switch(ctx))
        soc_on, soc_reason = self._decide(ctx, "soc", soc_pillar, "soc:telemetryEnabled")
        os_on, os_reason = self._decide(ctx, "os_updates", os_pillar, "patch:os:enabled")
        if os_on and self.manager_like:
            tel_reason = "manager-like role mirrors upstream with the telemetry query"
        elif os_on:
            tel_reason = "node role updates from its manager's repository: no query, no upstream"
        else:
            tel_reason = os_reason
        self.soc = {"enabled": soc_on, "pillar": soc_pillar, "reason": soc_reason}
        self.os_updates = {
            "enabled": os_on,
            "pillar": os_pillar,
            "reason": os_reason,
            "telemetry": os_on and self.manager_like,
            "telemetry_reason": tel_reason,
        }

    def _switch(self, name, read):
        try:
            return read()
        except PillarError as exc:
            self.errors[name] = exc
            return False

    def _decide(self, ctx, name, pillar_on, key):
        if name in self.errors:
            return False, f"invalid pillar: {self.errors[name]}"
        if self.airgap["enabled"]:
            return False, f"airgapped ({self.airgap['reason']}); {key} is ignored"
        return bool(pillar_on), f"{key} is {'true' if pillar_on else 'false'} ({origin(ctx, key)})"

    def require(self, channel=None):
        """Raise the pillar error of ``channel`` (of either channel when None)."""
        if channel is not None and channel not in TELEMETRY:
            raise PillarError(f"unknown channel {channel!r}; one of soc, os_updates")
        for name in TELEMETRY if channel is None else (channel,):
            if name in self.errors:
                raise self.errors[name]
        return self

    def as_dict(self):
        return {
            "airgap": self.airgap,
            "role": self.role,
            "manager_like": self.manager_like,
            "soc": self.soc,
            "os_updates": self.os_updates,
        }


def decision(ctx):
    """The :class:`Decision` of this context, made once; a broken channel is
    in its ``errors`` (nothing is raised for it)."""
    return ctx.memo("decision", lambda: Decision(ctx))


def checked(ctx, channel=None):
    """The :class:`Decision` of this context, once ``channel`` (or both
    channels) is known to have a valid pillar: its pillar error is raised."""
    return decision(ctx).require(channel)


def settings(ctx, channel=None):
    """The effective state of each channel and of airgap, with the reason. A
    bad pillar value raises an error naming the key; with ``channel`` only
    that channel's keys must be valid."""
    return checked(ctx, channel).as_dict()
