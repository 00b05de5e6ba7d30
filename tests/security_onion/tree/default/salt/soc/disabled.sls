{#- Stand-in of Security Onion 2.4's soc/disabled.sls: the so-soc container
    removed (the so-status entry and the salt-relay cron job are not
    modelled). #}
{%- from 'allowed_states.map.jinja' import allowed_states %}
{%- if sls.split('.')[0] in allowed_states %}

so-soc:
  docker_container.absent:
    - force: True

{%- else %}

{{ sls }}_state_not_allowed:
  test.fail_without_changes:
    - name: {{ sls }}_state_not_allowed

{%- endif %}
