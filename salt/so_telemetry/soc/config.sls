{#- SOC files from the effective SOC Telemetry setting, then SOC made to see
    them only when one of them changed:
    * on a Security Onion manager, through the `watch` of Security Onion's
      own SOC container state (Salt's mod_watch recreates the container in
      this same run; a single-file bind mount keeps the file it was started
      with); where Security Onion does not run SOC, nothing. Never its
      `so-soc-restart`: that queues a state run (`state.apply soc
      queue=True`) which waits for this one to end, which waits for it;
    * elsewhere, the reload command soc:reload_cmd, looked up at render time
      (an `onlyif` guard would make Salt search every state module for
      `cmd.mod_run_check` on each run: about 0.6 s, see bench/README.md). #}
{%- from "so_telemetry/soc/map.jinja" import soc, paths with context %}
{%- from "so_telemetry/map.jinja" import security_onion, soc_container with context %}

so-telemetry-soc-config-telemetry-analytics_managed:
  telemetry.analytics_managed:
    - name: {{ paths.analytics | yaml_dquote }}
{%- if soc_container %}
    - watch_in:
      - docker_container: {{ soc_container }}
{%- endif %}

so-telemetry-soc-config-telemetry-soc_json_managed:
  telemetry.soc_json_managed:
    - name: {{ paths.soc_json | yaml_dquote }}
{%- if soc_container %}
    - watch_in:
      - docker_container: {{ soc_container }}
{%- elif security_onion %}

so-telemetry-soc-config-test-show_notification-soc-not-running:
  test.show_notification:
    - text: "Security Onion does not run SOC here (pillar soc:enabled): nothing to restart"
    - onchanges:
      - telemetry: so-telemetry-soc-config-telemetry-analytics_managed
      - telemetry: so-telemetry-soc-config-telemetry-soc_json_managed
{%- elif salt["cmd.which"](soc.reload_cmd.split()[0]) %}

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
