{#- The consent trail (manager-like nodes; init.sls includes it there): a
    record for each channel whose effective state differs from the trail's
    last record of it (via highstate, by unknown). Never removed by clean. #}
{%- from "so_telemetry/map.jinja" import paths with context %}
so-telemetry-consent-telemetry-consent_recorded:
  telemetry.consent_recorded:
    - name: {{ paths.consent | yaml_dquote }}
