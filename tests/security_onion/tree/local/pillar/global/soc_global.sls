global:
  soversion: '2.4.110'
  managerip: '@@MANAGERIP@@'
  mdengine: 'ZEEK'
  ids: 'Suricata'
  url_base: '@@MANAGER@@'
  airgap: False
  imagerepo: 'securityonion'
  repo_host: '@@MANAGER@@'
  influxdb_host: '@@MANAGER@@'
  registry_host: '@@MANAGER@@'
  endgamehost: ''
