{#- The yum/dnf repository definition: upstream with the telemetry query,
    upstream without it, the local airgap repository, or the manager's. #}
{%- from "so_telemetry/map.jinja" import paths with context %}
so-telemetry-repo-telemetry-repo_managed:
  telemetry.repo_managed:
    - name: {{ paths.repo | yaml_dquote }}
