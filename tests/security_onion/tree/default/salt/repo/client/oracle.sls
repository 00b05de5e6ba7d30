{#- Stand-in of Security Onion 2.4's repo/client/oracle.sls. Security Onion's
    `so_repo` carries no gpgkey and no proxy: gpgcheck uses the keys it copies
    to /etc/pki/rpm-gpg (crsynckeys, not modelled), and the proxy
    (manager:proxy) goes to /etc/yum.conf (`yumconf`). Managers read the
    local mirror, other nodes their manager's. `cleandnf` is a stand-in of
    `dnf clean all`; `repair_yumdb` (it runs yum) is not modelled. Every
    path is under the minion option `so_telemetry_root`. #}
{%- from 'repo/client/map.jinja' import ABSENTFILES, REPOPATH with context %}
{%- from 'vars/globals.map.jinja' import GLOBALS %}
{%- set ROOT = opts.get('so_telemetry_root', '') %}
{%- if grains['os'] == 'OEL' %}

{%-   for file in ABSENTFILES %}
{{ file }}:
  file.absent:
    - name: {{ ROOT }}{{ REPOPATH }}{{ file }}
    - onchanges_in:
      - test: cleandnf
{%-   endfor %}

cleandnf:
  test.succeed_with_changes:
    - name: dnf clean all
    - onchanges:
      - so_repo

yumconf:
  file.managed:
    - name: {{ ROOT }}/etc/yum.conf
    - source: salt://repo/client/files/oracle/yum.conf.jinja
    - mode: 644
    - template: jinja
    - makedirs: True
    - show_changes: False

so_repo:
  pkgrepo.managed:
    - name: securityonion
    - humanname: Security Onion Repo
{%-   if GLOBALS.role in ['so-eval', 'so-standalone', 'so-import', 'so-manager', 'so-managersearch'] %}
    - baseurl: file:///nsm/repo/
{%-   else %}
    - baseurl: https://{{ GLOBALS.repo_host }}/repo
{%-   endif %}
    - enabled: 1
    - gpgcheck: 1

{%- endif %}
