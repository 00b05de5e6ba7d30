{#- Like Security Onion 2.4's soc/config.sls (socanalytics, socconfig). #}
{%- import_yaml "soc/defaults.yaml" as defaults %}
{%- set root = opts.get("so_telemetry_root", "") %}

socanalytics:
  file.managed:
    - name: {{ root }}/opt/so/conf/soc/analytics.js
    - source: salt://soc/files/analytics.js
    - user: 939
    - group: 939
    - mode: 600
    - makedirs: True
    - show_changes: False

socconfig:
  file.managed:
    - name: {{ root }}/opt/so/conf/soc/soc.json
    - source: salt://soc/files/soc.json.jinja
    - user: 939
    - group: 939
    - mode: 600
    - makedirs: True
    - template: jinja
    - show_changes: False
