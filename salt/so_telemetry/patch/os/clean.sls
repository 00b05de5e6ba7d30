{#- Remove the automatic OS update job (never one the host tree owns). #}
{%- from "so_telemetry/map.jinja" import formula, offline with context %}
{%- if formula.owners.patch_schedule == "library" %}
so-telemetry-patch-os-clean-schedule-absent:
  schedule.absent:
    - name: {{ formula.jobs.patch | yaml_dquote }}
{%- if offline %}
    - offline: True
{%- endif %}
{%- else %}
so-telemetry-patch-os-clean-test-nop-host-owned:
  test.nop:
    - name: {{ ("schedule job " ~ formula.jobs.patch ~ " is owned by the host tree: left alone") | yaml_dquote }}
{%- endif %}
