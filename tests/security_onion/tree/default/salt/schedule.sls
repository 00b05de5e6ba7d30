{#- Stand-in of Security Onion 2.4's salt/schedule.sls: a highstate every
    15 minutes, never two at once. `offline` is the stand-in's only addition:
    under `salt-call --local` no minion daemon answers the schedule module's
    event, so the job goes straight to minion.d/_schedule.conf. #}
highstate_schedule:
  schedule.present:
    - function: state.highstate
    - minutes: 15
    - maxrunning: 1
{%- if opts.get('file_client') == 'local' or opts.get('local') %}
    - offline: True
{%- endif %}
