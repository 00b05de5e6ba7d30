#!/usr/bin/env bash
# The whole test suite under every supported Salt line: set up (.venv and
# .venv-3006; dnf, createrepo-c and chromium when root), lint once, then pytest
# (unit, functional, dnf, browser, integration) under Salt 3008 (.venv) and
# Salt 3006.9 (.venv-3006): a full run starts four pytest processes at once
# (each line's layers in two parts), a run with pytest arguments one line
# after the other. Fails if the lint or either line fails, if pytest
# collected no test (exit 5), or, for a full run, if a layer ran no test.
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

# One pytest process of a Salt line: "$1" the line, "$2" the part ("" for
# the whole line), then the test paths. Its JUnit XML is
# .tmp/junit-salt-<line>[-<part>].xml, its exit status .tmp/rc-<line>[-<part>].
# Each line, and each part of a line, has its own basetemp and salt-factories
# root (tests/conftest.py: SO_TELEMETRY_TEST_PART), so they can run at once.
run_part() {
  local line=$1 part=$2 venv=.venv name
  shift 2
  [[ $line == 3006 ]] && venv=.venv-3006
  name=$line${part:+-$part}
  rm -f ".tmp/junit-salt-$name.xml" ".tmp/rc-$name"
  # the two lines' Security Onion grids apart: 3006.9's runs last (tests/conftest.py)
  SO_TELEMETRY_TEST_PART=$part SO_TELEMETRY_TEST_SO_LAST=$([[ $line == 3006 ]] && echo 1) \
    "$venv/bin/python" -m pytest --junitxml=".tmp/junit-salt-$name.xml" "$@" \
    "${pytest_args[@]}" </dev/null
  echo $? > ".tmp/rc-$name"
}

# A line's verdict into .tmp/status-<line>: every part passed and, for a full
# run, every layer ran (dnf may be skipped only when not root, where
# bootstrap could not install dnf).
line_status() {
  local line=$1 secs=$2 venv=.venv version status=ok name rc where junits=() allow=()
  shift 2
  [[ $line == 3006 ]] && venv=.venv-3006
  version=$("$venv/bin/python" -c 'import salt.version; print(salt.version.__version__)')
  for name in "$@"; do
    rc=$(cat ".tmp/rc-$name" 2>/dev/null || echo none)
    junits+=(".tmp/junit-salt-$name.xml")
    where=${name#"$line"}; where=${where:+ in part ${where#-}}
    if [[ $rc == 5 ]]; then
      status="FAILED (pytest collected no test$where)"
    elif [[ $rc != 0 ]]; then
      status="FAILED (pytest exit $rc$where)"
    fi
  done
  if [[ $status == ok && ${#pytest_args[@]} == 0 ]]; then
    [[ $(id -u) != 0 ]] && allow=(--allow-skipped-layer dnf)
    "$venv/bin/python" scripts/check_layers.py "${junits[@]}" "${allow[@]}" || status="FAILED (a layer ran no test)"
  fi
  echo "Salt $line line (salt $version): $status, pytest ${secs}s wall" > ".tmp/status-$line"
  echo "=== so-telemetry: Salt $line line: $status in ${secs}s ==="
}

for line in "${lines[@]}"; do rm -f ".tmp/status-$line"; done
start=$(date +%s)
if [[ ${#pytest_args[@]} == 0 ]]; then
  # A full run: each line in two pytest processes, all at once: "daemons"
  # (integration, browser, dnf: mostly waiting on salt daemons, Chromium and
  # loopback servers) and "processes" (unit, functional: salt-call and CLI
  # subprocesses). One
  # runs on the terminal; the others into their logs, printed when all are
  # done.
  parts=()
  for line in "${lines[@]}"; do parts+=("$line-daemons" "$line-processes"); done
  live=${parts[-1]}
  echo "=== so-telemetry: ${parts[*]} run at once; $live on the terminal, the others' output follows when all are done (.tmp/test-<part>.log) ==="
  pids=()
  for name in "${parts[@]}"; do
    line=${name%%-*}
    case ${name#*-} in
      daemons) paths=(tests/integration tests/browser tests/dnf) ;;
      processes) paths=(tests/unit tests/functional) ;;
    esac
    if [[ $name == "$live" ]]; then
      run_part "$line" "${name#*-}" "${paths[@]}" &
    else
      run_part "$line" "${name#*-}" "${paths[@]}" > ".tmp/test-$name.log" 2>&1 &
    fi
    pids+=($!)
  done
  wait "${pids[@]}"
  secs=$(( $(date +%s) - start ))
  for name in "${parts[@]}"; do
    [[ $name == "$live" ]] && continue
    echo "=== so-telemetry: Salt ${name%%-*} line, ${name#*-} (.tmp/test-$name.log) ==="
    cat ".tmp/test-$name.log"
  done
  for line in "${lines[@]}"; do line_status "$line" "$secs" "$line-daemons" "$line-processes"; done
else
  for line in "${lines[@]}"; do
    start=$(date +%s)
    echo "=== so-telemetry: Salt $line line ==="
    run_part "$line" ""
    line_status "$line" $(( $(date +%s) - start )) "$line"
  done
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
