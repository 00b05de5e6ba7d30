{#- The automatic OS update itself, run by the `patch_os` schedule. Does
    nothing but say why when updates are off or the grid is airgapped. #}
{%- set os_updates = salt["telemetry.settings"]("os_updates")["os_updates"] %}
include:
  - repo

{%- if os_updates.enabled %}
so-telemetry-patch-os-pkg-uptodate:
  pkg.uptodate:
    - refresh: True
    - require:
      - sls: repo
{%- else %}
so-telemetry-patch-os-test-show_notification:
  test.show_notification:
    - text: {{ ("OS updates are off: " ~ os_updates.reason) | yaml_dquote }}
{%- endif %}
