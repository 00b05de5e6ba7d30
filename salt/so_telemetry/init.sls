{#- so-telemetry: what this node gets. Every minion: the grid resync
    schedule, its repository definition (the telemetry module picks upstream,
    the manager's or the local one) and the OS update schedule; manager-like
    roles (global:manager_roles) also the SOC files and the consent trail,
    and on a Security Onion manager what joins the library to Security
    Onion's own states (so_telemetry.security_onion). #}
{%- from "so_telemetry/map.jinja" import security_onion with context %}
include:
  - so_telemetry.resync
  - so_telemetry.repo
  - so_telemetry.patch.os.schedule
{%- if salt["telemetry.manager_like"]() %}
  - so_telemetry.soc
  - so_telemetry.consent
{%- if security_onion %}
  - so_telemetry.security_onion
{%- endif %}
{%- endif %}
