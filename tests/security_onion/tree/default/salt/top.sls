{#- Stand-in of Security Onion 2.4's state top (salt/top.sls): nodes are
    targeted by the suffix of their minion id (<host>_<role>). Only the
    states this stand-in models are listed. Security Onion also gates most
    entries on the Salt version it pins (G@saltversion:...); the stand-in
    runs on every Salt line, so that gate is left out. #}
base:

  '*':
    - repo.client
    - schedule
    - patch.os.schedule

  '*_manager or *_managersearch or *_standalone or *_eval':
    - match: compound
    - soc

  '*_sensor':
    {#- Security Onion's sensor states are not modelled: the entry keeps the
        sensor target (Salt applies `schedule` once per highstate). #}
    - schedule
