{#- Remove the library's annotation file from Security Onion's tree (on a
    Security Onion manager; `so-telemetry uninstall --security-onion` removes
    it too). #}
{%- from "so_telemetry/map.jinja" import paths, security_onion with context %}
{%- if security_onion %}
so-telemetry-security_onion-clean-file-absent-annotations:
  file.absent:
    - name: {{ paths.annotations | yaml_dquote }}
{%- else %}
so-telemetry-security_onion-clean-test-nop:
  test.nop:
    - name: not a Security Onion manager
{%- endif %}
