{#- The automatic OS update job (patch_os_schedule: state.sls
    so_telemetry.patch.os) per patch:os:schedule_to_run; absent when OS
    updates are off or the grid is airgapped. #}
{%- from "so_telemetry/map.jinja" import formula, offline with context %}
so-telemetry-patch-os-schedule-telemetry-patch_schedule:
  telemetry.patch_schedule:
    - name: {{ formula.jobs.patch | yaml_dquote }}
    - offline: {{ offline }}
