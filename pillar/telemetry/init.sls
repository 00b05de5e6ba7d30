# Shipped pillar of a new grid: empty on purpose. Every default lives in
# salt/so_telemetry/<component>/defaults.yaml, so `so-telemetry status` can
# tell a value someone set from a default. Change settings with
# `so-telemetry enable|disable`, which writes the local pillar
# (local/pillar/soc/soc_soc.sls, local/pillar/patch/soc_patch.sls), or in the
# Configuration screen.
{}
