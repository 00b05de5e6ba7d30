{#- Remove the SOC analytics loader this library renders. soc.json is SOC's
    own configuration: cleaning leaves it (and the keys merged into it) alone.
    Nothing is removed where the host tree owns the file. #}
{%- from "so_telemetry/map.jinja" import formula, paths with context %}
{%- if formula.owners.analytics == "library" %}
so-telemetry-soc-clean-file-absent-analytics:
  file.absent:
    - name: {{ paths.analytics | yaml_dquote }}
{%- else %}
so-telemetry-soc-clean-test-nop-host-owned:
  test.nop:
    - name: {{ (paths.analytics ~ " is owned by the host tree: left alone") | yaml_dquote }}
{%- endif %}
