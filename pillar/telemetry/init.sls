# Shipped default pillar: the telemetry settings of a new grid (Security Onion
# 2.4 key names). Change them with `so-telemetry enable|disable`, which writes
# the local pillar (local/pillar/soc/soc_soc.sls, local/pillar/patch/soc_patch.sls),
# or in the Configuration screen.
soc:
  telemetryEnabled: true
patch:
  os:
    enabled: true
    schedule_to_run: auto
global:
  airgap: false
