#!/usr/bin/env bash
# The whole test suite under every supported Salt line: set up (.venv and
# .venv-3006; dnf, createrepo-c and chromium when root), lint once, then pytest
# (unit, functional, dnf, browser, integration) under Salt 3008 (.venv) and
# Salt 3006.9 (.venv-3006), the two lines at the same time. Fails if the lint
# or either line fails, if pytest collected no test (exit 5), or, for a full
# run, if a layer ran no test.
#
# Usage: test.sh [--salt 3006|3008|all] [--no-lint] [pytest arguments...]
set -uo pipefail
cd "$(dirname "$0")/.."

salt_line=all
lint=1
pytest_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --salt) salt_line=${2:-}; shift 2 || { echo "test.sh: --salt needs 3006, 3008 or all" >&2; exit 2; } ;;
    --salt=*) salt_line=${1#--salt=}; shift ;;
    --no-lint) lint=0; shift ;;
    *) pytest_args+=("$1"); shift ;;
  esac
done
case "$salt_line" in
  3008) lines=(3008) ;;
  3006) lines=(3006) ;;
  all) lines=(3008 3006) ;;
  *) echo "test.sh: --salt must be 3006, 3008 or all, not '$salt_line'" >&2; exit 2 ;;
esac

bootstrap_line=$salt_line
[[ $lint == 1 ]] && [[ $salt_line == 3006 ]] && bootstrap_line=all  # the lint tools live in .venv
bash scripts/bootstrap.sh --system-packages --salt "$bootstrap_line" || exit 1

failed=()
summary=()
if [[ $lint == 1 ]]; then
  echo "=== so-telemetry: lint (ruff, salt-lint) ==="
  if bash scripts/lint.sh; then summary+=("lint: ok"); else failed+=(lint); summary+=("lint: FAILED"); fi
fi

mkdir -p .tmp

# One Salt line's pytest run: its JUnit XML, its status in .tmp/status-<line>.
# Each line has its own basetemp, salt-factories root and figures (see
# tests/conftest.py), so the two lines can run at the same time.
run_line() {
  local line=$1 venv=.venv version junit start rc secs status allow
  [[ $line == 3006 ]] && venv=.venv-3006
  version=$("$venv/bin/python" -c 'import salt.version; print(salt.version.__version__)')
  echo "=== so-telemetry: Salt $line line: salt $version ($venv) ==="
  junit=.tmp/junit-salt-$line.xml
  rm -f "$junit"
  start=$(date +%s)
  "$venv/bin/python" -m pytest --junitxml="$junit" "${pytest_args[@]}" </dev/null
  rc=$?
  secs=$(( $(date +%s) - start ))
  status=ok
  if [[ $rc == 5 ]]; then
    status="FAILED (pytest collected no test)"
  elif [[ $rc != 0 ]]; then
    status="FAILED (pytest exit $rc)"
  elif [[ ${#pytest_args[@]} == 0 ]]; then
    # a full run: every layer must have run (dnf may be skipped only when not
    # root, where bootstrap could not install dnf)
    allow=(); [[ $(id -u) != 0 ]] && allow=(--allow-skipped-layer dnf)
    "$venv/bin/python" scripts/check_layers.py "$junit" "${allow[@]}" || status="FAILED (a layer ran no test)"
  fi
  echo "Salt $line line (salt $version): $status, pytest ${secs}s wall" > ".tmp/status-$line"
  echo "=== so-telemetry: Salt $line line: $status in ${secs}s ==="
}

for line in "${lines[@]}"; do rm -f ".tmp/status-$line"; done
if [[ ${#lines[@]} == 2 ]]; then
  # Both lines at once (each pytest mostly waits on one salt process at a
  # time): 3006.9 in the background into its log, printed when it is done;
  # 3008 on the terminal.
  echo "=== so-telemetry: Salt 3006 line runs beside 3008; its output follows when both are done (.tmp/test-3006.log) ==="
  run_line 3006 > .tmp/test-3006.log 2>&1 &
  bg=$!
  run_line 3008
  wait "$bg"
  cat .tmp/test-3006.log
else
  run_line "${lines[0]}"
fi
for line in "${lines[@]}"; do
  result=$(cat ".tmp/status-$line" 2>/dev/null || echo "Salt $line line: FAILED (no result)")
  summary+=("$result")
  [[ $result == *": ok,"* ]] || failed+=("salt-$line")
done

echo "=== so-telemetry: summary ==="
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== so-telemetry: FAILED: ${failed[*]} ===" >&2
  exit 1
fi
echo "=== so-telemetry: all passed ==="
