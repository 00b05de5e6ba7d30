{%- from "resync/map.jinja" import offline with context %}
so-telemetry-resync-clean-schedule-absent:
  schedule.absent:
    - name: highstate
{%- if offline %}
    - offline: True
{%- endif %}
