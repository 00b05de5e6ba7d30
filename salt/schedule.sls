{#- The grid resync schedule (`highstate` every 15 minutes), see resync/. #}
include:
  - resync
