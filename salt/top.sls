{#- The highstate of this library: every minion gets `so_telemetry`. The
    environment is the one this top is read from: `base` where the library
    is served in base (a grid that runs only this library), `so_telemetry`
    on a Security Onion manager (`so-telemetry install --security-onion`
    serves it as its own environment, whose top Salt merges with Security
    Onion's own, untouched). #}
{{ saltenv }}:
  '*':
    - so_telemetry
