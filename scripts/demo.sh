#!/usr/bin/env bash
# The main job: a masterless highstate of this library on its shipped default
# pillar, rendered into ./sandbox (never /etc or /opt), then the rendered files
# and the telemetry report.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
bash scripts/bootstrap.sh
SANDBOX=$REPO/sandbox
rm -rf "$SANDBOX"
mkdir -p "$SANDBOX/etc/salt/minion.d" "$SANDBOX/local/pillar" "$SANDBOX/root"
cat > "$SANDBOX/etc/salt/minion" <<CONF
id: so-demo
file_client: local
root_dir: $SANDBOX
user: $(id -un)
file_roots:
  base:
    - $REPO/salt
    - $REPO
# The checkout is the second file root: keep its generated trees off the file server.
file_ignore_regex:
  - '(^|/)\.(venv[^/]*|tmp|git)(/|\$)'
  - '(^|/)(sandbox|__pycache__)(/|\$)'
pillar_roots:
  base:
    - $SANDBOX/local/pillar
    - $REPO/pillar
# Every file the library renders goes under this directory.
so_telemetry_root: $SANDBOX/root
grains:
  role: so-standalone
log_level_logfile: warning
CONF
if [[ $(id -u) != 0 ]]; then
  # Not root: the sandbox cannot hand files to socore (939) or root; keep the
  # shipped pillar otherwise.
  mkdir -p "$SANDBOX/local/pillar/so_telemetry_demo"
  { cat "$REPO/pillar/top.sls"; echo "    - so_telemetry_demo"; } > "$SANDBOX/local/pillar/top.sls"
  cat > "$SANDBOX/local/pillar/so_telemetry_demo/init.sls" <<PIL
soc: {file_user: $(id -un), file_group: $(id -gn)}
repo: {file_user: $(id -un), file_group: $(id -gn)}
PIL
  echo "(not root: rendered files are owned by $(id -un) instead of 939 and root)"
fi
export SO_TELEMETRY_CONFIG_DIR=$SANDBOX/etc/salt SO_TELEMETRY_LOCAL=1 SO_TELEMETRY_PILLAR_DIR=$SANDBOX/local/pillar
export PYTHONWARNINGS=ignore::DeprecationWarning
CALL=(.venv/bin/salt-call --config-dir "$SANDBOX/etc/salt" --local)

echo "== masterless highstate into $SANDBOX/root"
"${CALL[@]}" saltutil.sync_all >/dev/null
"${CALL[@]}" state.highstate --state-output=terse --state-verbose=True
echo
echo "== second highstate (must change nothing)"
"${CALL[@]}" state.highstate --state-output=terse --state-verbose=False
echo
echo "== rendered files"
find "$SANDBOX/root" -type f | sort | while read -r f; do
  printf -- '--- %s (owner %s, mode %s, %s bytes)\n' "${f#$SANDBOX/root}" "$(stat -c %u:%g "$f")" "$(stat -c %a "$f")" "$(stat -c %s "$f")"
  cat "$f"
done
echo "--- Salt schedules (minion.d/_schedule.conf)"
cat "$SANDBOX/etc/salt/minion.d/_schedule.conf"
echo
echo "== so-telemetry status"
.venv/bin/so-telemetry status
echo
echo "== so-telemetry audit"
.venv/bin/so-telemetry audit
