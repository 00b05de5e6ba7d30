{#- Highstate targeting by the `role` grain. Manager-like roles (the list in
    global/defaults.yaml) get the SOC states; every minion gets the resync
    schedule, its repository definition (the telemetry module picks upstream,
    manager or local) and the OS update schedule. #}
{%- import_yaml "global/defaults.yaml" as global_defaults %}
{%- set roles = salt["pillar.get"]("global:manager_roles", global_defaults.global.manager_roles) %}
{%- set manager_like = [] %}
{%- for role in roles %}{% do manager_like.append("G@role:" ~ role) %}{% endfor %}
base:
  '*':
    - schedule
    - repo
    - patch.os.schedule
  '{{ manager_like | join(" or ") }}':
    - match: compound
    - soc
