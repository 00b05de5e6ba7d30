{#- Stand-in of Security Onion 2.4's soc/config.sls: the SOC files the
    so-soc container reads, with Security Onion's state IDs, sources, owners
    (939, SOC's user) and modes; a subset of them. Every path is under the
    minion option `so_telemetry_root`; the owner is the Salt process's own
    user when it is not root. #}
{%- from 'allowed_states.map.jinja' import allowed_states %}
{%- if sls.split('.')[0] in allowed_states %}
{%-   set ROOT = opts.get('so_telemetry_root', '') %}
{%-   set SOCUSER = 939 if grains.get('uid', 0) == 0 else grains.uid %}

socdir:
  file.directory:
    - name: {{ ROOT }}/opt/so/conf/soc/fingerprints
    - user: {{ SOCUSER }}
    - group: {{ SOCUSER }}
    - makedirs: True

socdatadir:
  file.directory:
    - name: {{ ROOT }}/nsm/soc/jobs
    - user: {{ SOCUSER }}
    - group: {{ SOCUSER }}
    - makedirs: True

soclogdir:
  file.directory:
    - name: {{ ROOT }}/opt/so/log/soc
    - user: {{ SOCUSER }}
    - group: {{ SOCUSER }}
    - makedirs: True

socanalytics:
  file.managed:
    - name: {{ ROOT }}/opt/so/conf/soc/analytics.js
    - source: salt://soc/files/soc/analytics.js
    - user: {{ SOCUSER }}
    - group: {{ SOCUSER }}
    - mode: 600
    - show_changes: False

socconfig:
  file.managed:
    - name: {{ ROOT }}/opt/so/conf/soc/soc.json
    - source: salt://soc/files/soc/soc.json.jinja
    - user: {{ SOCUSER }}
    - group: {{ SOCUSER }}
    - mode: 600
    - template: jinja
    - show_changes: False

{%- else %}

{{ sls }}_state_not_allowed:
  test.fail_without_changes:
    - name: {{ sls }}_state_not_allowed

{%- endif %}
