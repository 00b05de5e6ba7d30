{#- Salt schedule `patch_os` (state.sls patch.os) per patch:os:schedule_to_run;
    absent when OS updates are off or the grid is airgapped. #}
{%- from "resync/map.jinja" import offline with context %}
so-telemetry-patch-os-schedule-telemetry-patch_schedule:
  telemetry.patch_schedule:
    - name: patch_os
    - offline: {{ offline }}
