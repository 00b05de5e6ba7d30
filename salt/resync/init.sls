{#- Grid resync: highstate every 15 minutes (resync:highstate). #}
{%- from "resync/map.jinja" import offline with context %}
so-telemetry-resync-telemetry-highstate_schedule:
  telemetry.highstate_schedule:
    - name: highstate
    - offline: {{ offline }}
