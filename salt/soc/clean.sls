{#- Remove the SOC files this library renders. #}
{%- for path in salt["telemetry.soc_files"]() %}
so-telemetry-soc-clean-file-absent-{{ loop.index }}:
  file.absent:
    - name: {{ path | yaml_dquote }}
{%- endfor %}
