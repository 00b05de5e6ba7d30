include:
  - so_telemetry.soc.config
