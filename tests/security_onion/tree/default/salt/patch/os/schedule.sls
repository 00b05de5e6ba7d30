{#- Stand-in of Security Onion 2.4's patch/os/schedule.sls: the OS update
    job follows the schedule `patch:os:schedule_to_run` names among
    `patch:os:schedules`; a schedule keyed by weekday becomes `when` times,
    one keyed by days/hours/minutes an interval. With `patch:os:enabled`
    false the job is removed. `offline`: see schedule.sls. #}
{%- from 'patch/os/schedules/map.jinja' import PATCHMERGED %}
{%- set OFFLINE = opts.get('file_client') == 'local' or opts.get('local') %}

{%- if PATCHMERGED.os.enabled %}
{%-   set RUN = PATCHMERGED.os.schedules[PATCHMERGED.os.schedule_to_run] %}
{%-   set DAYS = RUN.schedule.keys() | select('match', '.*day') | list %}
{%-   set INTERVALS = RUN.schedule.keys() | select('match', 'days|hours|minutes') | list %}

patch_os_schedule:
  schedule.present:
    - function: state.sls
    - job_args:
      - patch.os
    - splay: {{ RUN.splay }}
    - return_job: True
{%-   if DAYS %}
    - when:
{%-     for day, times in RUN.schedule.items() %}
{%-       for at in times %}
      - {{ day }} {{ at }}
{%-       endfor %}
{%-     endfor %}
{%-   elif INTERVALS %}
    - {{ INTERVALS | first }}: {{ RUN.schedule[INTERVALS | first] }}
{%-   endif %}
{%-   if OFFLINE %}
    - offline: True
{%-   endif %}

{%- else %}

remove_patch_os_schedule:
  schedule.absent:
    - name: patch_os_schedule
{%-   if OFFLINE %}
    - offline: True
{%-   endif %}

{%- endif %}
