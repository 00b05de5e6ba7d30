# Pillar top. The shipped defaults come first; the local files the
# Configuration screen and `so-telemetry enable|disable` write come after them
# and win (they live in the local pillar root, listed first in pillar_roots).
base:
  '*':
    - ignore_missing: True
    - telemetry
    - global.soc_global
    - soc.soc_soc
    - patch.soc_patch
    - manager.soc_manager
