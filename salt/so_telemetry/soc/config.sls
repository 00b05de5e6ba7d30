{#- SOC files from the effective SOC Telemetry setting, then a SOC reload only
    when one of them changed. The reload command is looked up at render time:
    an `onlyif` guard would make Salt search every state module for
    `cmd.mod_run_check` on each run (about 0.6 s, see bench/README.md). #}
{%- from "so_telemetry/soc/map.jinja" import soc, paths with context %}

so-telemetry-soc-config-telemetry-analytics_managed:
  telemetry.analytics_managed:
    - name: {{ paths.analytics | yaml_dquote }}

so-telemetry-soc-config-telemetry-soc_json_managed:
  telemetry.soc_json_managed:
    - name: {{ paths.soc_json | yaml_dquote }}

{%- if salt["cmd.which"](soc.reload_cmd.split()[0]) %}

so-telemetry-soc-config-cmd-run-reload:
  cmd.run:
    - name: {{ soc.reload_cmd | yaml_dquote }}
    - onchanges:
      - telemetry: so-telemetry-soc-config-telemetry-analytics_managed
      - telemetry: so-telemetry-soc-config-telemetry-soc_json_managed
{%- else %}

so-telemetry-soc-config-test-show_notification-no-reload:
  test.show_notification:
    - text: {{ (soc.reload_cmd.split()[0] ~ " is not installed here: SOC picks up changed files at its next restart") | yaml_dquote }}
    - onchanges:
      - telemetry: so-telemetry-soc-config-telemetry-analytics_managed
      - telemetry: so-telemetry-soc-config-telemetry-soc_json_managed
{%- endif %}
