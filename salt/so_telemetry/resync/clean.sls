{#- Remove the grid resync job (never one the host tree owns). #}
{%- from "so_telemetry/map.jinja" import formula, offline with context %}
{%- if formula.owners.highstate_schedule == "library" %}
so-telemetry-resync-clean-schedule-absent:
  schedule.absent:
    - name: {{ formula.jobs.highstate | yaml_dquote }}
{%- if offline %}
    - offline: True
{%- endif %}
{%- else %}
so-telemetry-resync-clean-test-nop-host-owned:
  test.nop:
    - name: {{ ("schedule job " ~ formula.jobs.highstate ~ " is owned by the host tree: left alone") | yaml_dquote }}
{%- endif %}
