{#- The automatic OS update itself, run by the patch_os_schedule job. Does
    nothing but say why when updates are off or the grid is airgapped. #}
{%- set os_updates = salt["telemetry.settings"]("os_updates")["os_updates"] %}
include:
  - so_telemetry.repo

{%- if os_updates.enabled %}
so-telemetry-patch-os-pkg-uptodate:
  pkg.uptodate:
    - refresh: True
    - require:
      - sls: so_telemetry.repo
{%- else %}
so-telemetry-patch-os-test-show_notification:
  test.show_notification:
    - text: {{ ("OS updates are off: " ~ os_updates.reason) | yaml_dquote }}
{%- endif %}
