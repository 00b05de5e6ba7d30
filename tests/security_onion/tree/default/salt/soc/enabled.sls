{#- Stand-in of Security Onion 2.4's soc/enabled.sls: the so-soc container
    (docker_container, stubbed by _states/docker_container.py), restarted
    when a file under /opt/so/conf/soc changes. The analytics loader is
    mounted into SOC's web root only while telemetry is on and the grid is not
    airgapped. The bind list is a subset of Security Onion's; networks, ports,
    extra hosts, the so-status entry and the salt-relay cron job are not
    modelled. The binds name host paths as Security Onion does (the stub
    mounts nothing); the watched files are under `so_telemetry_root`. #}
{%- from 'allowed_states.map.jinja' import allowed_states %}
{%- if sls.split('.')[0] in allowed_states %}
{%-   from 'vars/globals.map.jinja' import GLOBALS %}
{%-   from 'soc/merged.map.jinja' import SOCMERGED %}
{%-   set ROOT = opts.get('so_telemetry_root', '') %}

include:
  - soc.config

so-soc:
  docker_container.running:
    - image: {{ GLOBALS.registry_host }}:5000/{{ GLOBALS.image_repo }}/so-soc:{{ GLOBALS.so_version }}
    - hostname: soc
    - name: so-soc
    - binds:
      - /nsm/soc/jobs:/opt/sensoroni/jobs:rw
      - /opt/so/log/soc/:/opt/sensoroni/logs/:rw
      - /opt/so/conf/soc/soc.json:/opt/sensoroni/sensoroni.json:ro
{%-   if SOCMERGED.telemetryEnabled and not GLOBALS.airgap %}
      - /opt/so/conf/soc/analytics.js:/opt/sensoroni/html/js/analytics.js:ro
{%-   endif %}
      - /opt/so/conf/soc/fingerprints:/opt/sensoroni/fingerprints:rw
    - watch:
      - file: {{ ROOT }}/opt/so/conf/soc/*
    - require:
      - file: socdatadir
      - file: soclogdir
      - file: socconfig
      - file: socanalytics

{%- else %}

{{ sls }}_state_not_allowed:
  test.fail_without_changes:
    - name: {{ sls }}_state_not_allowed

{%- endif %}
