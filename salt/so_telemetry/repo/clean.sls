{#- Remove the repository definition (never one the host tree owns). #}
{%- from "so_telemetry/map.jinja" import formula, paths with context %}
{%- if formula.owners.repo == "library" %}
so-telemetry-repo-clean-file-absent:
  file.absent:
    - name: {{ paths.repo | yaml_dquote }}
{%- else %}
so-telemetry-repo-clean-test-nop-host-owned:
  test.nop:
    - name: {{ (paths.repo ~ " is owned by the host tree: left alone") | yaml_dquote }}
{%- endif %}
