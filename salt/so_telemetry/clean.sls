{#- Remove what this library renders (never an artefact the host tree owns). #}
include:
  - so_telemetry.soc.clean
  - so_telemetry.repo.clean
  - so_telemetry.resync.clean
  - so_telemetry.patch.os.clean
  - so_telemetry.security_onion.clean
