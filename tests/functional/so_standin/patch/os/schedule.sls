{#- Like Security Onion 2.4's patch/os/schedule.sls (auto: every 8 hours). #}
{%- if salt["pillar.get"]("patch:os:enabled", True) %}
patch_os_schedule:
  schedule.present:
    - function: state.sls
    - job_args:
      - patch.os
    - splay: 900
    - return_job: True
    - hours: 8
    - offline: True
{%- else %}
remove_patch_os_schedule:
  schedule.absent:
    - name: patch_os_schedule
    - offline: True
{%- endif %}
