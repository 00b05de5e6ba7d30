#!/usr/bin/env bash
# The whole test suite under every supported Salt line: set up (.venv and
# .venv-3006; dnf, createrepo-c and chromium when root), lint once, then pytest
# (unit, functional, dnf, integration) under Salt 3008 (.venv), then Salt 3006.9
# (.venv-3006). Fails if the lint or either line fails, if pytest collected no
# test (exit 5), or, for a full run, if a layer ran no test.
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
for line in "${lines[@]}"; do
  venv=.venv; [[ $line == 3006 ]] && venv=.venv-3006
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
  [[ $status != ok ]] && failed+=("salt-$line")
  summary+=("Salt $line line (salt $version): $status, pytest ${secs}s wall")
  echo "=== so-telemetry: Salt $line line: $status in ${secs}s ==="
done

echo "=== so-telemetry: summary ==="
printf '  %s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "=== so-telemetry: FAILED: ${failed[*]} ===" >&2
  exit 1
fi
echo "=== so-telemetry: all passed ==="
