{#- so-telemetry: what this node gets. Every minion: the grid resync
    schedule, its repository definition (the telemetry module picks upstream,
    the manager's or the local one) and the OS update schedule; manager-like
    roles (global:manager_roles) also the SOC files and the consent trail. #}
include:
  - so_telemetry.resync
  - so_telemetry.repo
  - so_telemetry.patch.os.schedule
{%- if salt["telemetry.manager_like"]() %}
  - so_telemetry.soc
  - so_telemetry.consent
{%- endif %}
