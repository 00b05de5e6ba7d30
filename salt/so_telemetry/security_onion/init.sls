{#- On a Security Onion manager (`so-telemetry install --security-onion`):
    * the library's annotations where SOC's Configuration screen reads them
      (soup replaces default/: this puts them back at the next highstate);
    * while the library owns analytics.js (so_telemetry:owners:analytics),
      Security Onion's own loader state `socanalytics` writes its file aside
      (so_telemetry:security_onion:analytics_aside) instead of analytics.js:
      one writer. `socanalytics` stays: Security Onion's SOC container state
      requires it. Security Onion's SOC states are included so that
      `state.apply so_telemetry` alone has them too (in a highstate they are
      there already, once). #}
{%- from "so_telemetry/map.jinja" import formula, paths, soc_container with context %}
include:
  - so_telemetry.soc
{%- if soc_container %}
  - base: soc
{%- endif %}

so-telemetry-security_onion-telemetry-annotations_managed:
  telemetry.annotations_managed:
    - name: {{ paths.annotations | yaml_dquote }}
{%- if soc_container and formula.owners.analytics == "library" %}

extend:
  socanalytics:
    file:
      - name: {{ paths.analytics_aside | yaml_dquote }}
{%- endif %}
