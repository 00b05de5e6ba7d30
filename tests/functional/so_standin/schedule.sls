{#- Like Security Onion 2.4's schedule.sls. #}
highstate_schedule:
  schedule.present:
    - function: state.highstate
    - minutes: 15
    - maxrunning: 1
    - offline: True
