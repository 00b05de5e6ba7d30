{#- SOC files from the effective SOC Telemetry setting, then a SOC reload only
    when one of them changed. #}
{%- from "soc/map.jinja" import soc with context %}

so-telemetry-soc-config-telemetry-soc_config:
  telemetry.soc_config:
    - name: soc-files

so-telemetry-soc-config-cmd-run-reload:
  cmd.run:
    - name: {{ soc.reload_cmd | yaml_dquote }}
    - onlyif: command -v {{ soc.reload_cmd.split()[0] | yaml_dquote }}
    - onchanges:
      - telemetry: so-telemetry-soc-config-telemetry-soc_config
