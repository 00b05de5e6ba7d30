"""The channels: what each is called where, in one table that the engine,
the states, the consent trail and the command line all read.

``name`` is the engine's and the consent trail's (``soc``, ``os_updates``,
``airgap``), ``word`` the command line's (``so-telemetry enable os-updates``,
``history --channel os-updates``), ``key`` the pillar key that sets it,
``sls`` the local pillar file Security Onion's Configuration screen and
``so-telemetry enable|disable`` write it to, ``title`` what people read.
``switch``: a telemetry channel the command line can turn on or off (the
airgap is decided by the grid's grain or pillar, never by the command)."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Channel:
    name: str
    word: str
    key: str
    sls: str
    title: str
    switch: bool


TABLE = (
    Channel("soc", "soc", "soc:telemetryEnabled", "soc.soc_soc", "SOC Telemetry", True),
    Channel("os_updates", "os-updates", "patch:os:enabled", "patch.soc_patch", "Automatic OS updates", True),
    Channel("airgap", "airgap", "global:airgap", "global.soc_global", "Airgap", False),
)
NAMES = tuple(c.name for c in TABLE)
# The channels the engine decides from their own pillar switch (the airgap turns both off).
TELEMETRY = tuple(c.name for c in TABLE if c.switch)
WORDS = tuple(c.word for c in TABLE)
SWITCHES = tuple(c.word for c in TABLE if c.switch)


def get(name):
    """The channel called ``name`` (its engine name or its command-line word)."""
    for chan in TABLE:
        if name in (chan.name, chan.word):
            return chan
    raise KeyError(f"unknown channel {name!r}; one of {', '.join(WORDS)}")
