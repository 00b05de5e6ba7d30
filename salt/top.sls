{#- Highstate for a grid that runs only this library. On a Security Onion
    manager, add `so_telemetry` to the host tree's own top file instead (and
    see pillar so_telemetry:owners). #}
base:
  '*':
    - so_telemetry
