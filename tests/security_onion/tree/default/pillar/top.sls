{#- Stand-in of Security Onion 2.4's pillar top: per role, each component's
    `soc_<comp>` file (what the SOC Configuration screen writes) and
    `adv_<comp>` file (advanced YAML), both under local/pillar, then the
    minion's own `minions/<id>` and `minions/adv_<id>`. Only the modelled
    components are listed. #}
base:
  '*':
    - global.soc_global
    - global.adv_global
    - patch.soc_patch
    - patch.adv_patch

  '*_manager or *_managersearch':
    - match: compound
    {%- if salt['file.file_exists']('@@SALTSTACK@@/local/pillar/elasticsearch/auth.sls') %}
    - elasticsearch.auth
    {%- endif %}
    - manager.soc_manager
    - manager.adv_manager
    - soc.soc_soc
    - soc.adv_soc
    - minions.{{ grains.id }}
    - minions.adv_{{ grains.id }}

  '*_sensor':
    - minions.{{ grains.id }}
    - minions.adv_{{ grains.id }}

  '*_eval':
    {%- if salt['file.file_exists']('@@SALTSTACK@@/local/pillar/elasticsearch/auth.sls') %}
    - elasticsearch.auth
    {%- endif %}
    - manager.soc_manager
    - manager.adv_manager
    - soc.soc_soc
    - soc.adv_soc
    - minions.{{ grains.id }}
    - minions.adv_{{ grains.id }}

  '*_standalone':
    {%- if salt['file.file_exists']('@@SALTSTACK@@/local/pillar/elasticsearch/auth.sls') %}
    - elasticsearch.auth
    {%- endif %}
    - manager.soc_manager
    - manager.adv_manager
    - soc.soc_soc
    - soc.adv_soc
    - minions.{{ grains.id }}
    - minions.adv_{{ grains.id }}
