base:
  '*':
    - soc.config
    - patch.os.schedule
    - schedule
    - so_telemetry
