{#- Grid resync: highstate on the resync:highstate interval (15 minutes). #}
{%- from "so_telemetry/map.jinja" import formula, offline with context %}
so-telemetry-resync-telemetry-highstate_schedule:
  telemetry.highstate_schedule:
    - name: {{ formula.jobs.highstate | yaml_dquote }}
    - offline: {{ offline }}
