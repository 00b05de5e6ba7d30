#!/usr/bin/env bash
# Create the virtualenvs with this library and its test tools installed, one
# per supported Salt line:
#
#   .venv       Salt 3008.x (constraints.txt), plus the lint tools (ruff, salt-lint)
#   .venv-3006  Salt 3006.9, Security Onion 2.4's Salt (constraints-3006.txt)
#
# Usage: bootstrap.sh [--salt 3006|3008|all] [--system-packages]
#   --salt             which virtualenv(s) to create or update (default: all)
#   --system-packages  as root on Debian, also apt-get install dnf and
#                      createrepo-c (the real dnf client and repository tool the
#                      repository tests use) and chromium (headless-browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

salt_line=all
system_packages=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --salt) salt_line=${2:-}; shift 2 || { echo "bootstrap: --salt needs 3006, 3008 or all" >&2; exit 2; } ;;
    --salt=*) salt_line=${1#--salt=}; shift ;;
    --system-packages) system_packages=1; shift ;;
    *) echo "bootstrap: unknown argument: $1 (usage: bootstrap.sh [--salt 3006|3008|all] [--system-packages])" >&2; exit 2 ;;
  esac
done
case "$salt_line" in
  3006|3008|all) ;;
  *) echo "bootstrap: --salt must be 3006, 3008 or all, not '$salt_line'" >&2; exit 2 ;;
esac

if [[ $system_packages == 1 ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  if ! command -v dnf >/dev/null || ! command -v createrepo_c >/dev/null || ! command -v chromium >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq dnf createrepo-c chromium >/dev/null
  fi
fi

# venv dir, constraints file, extras
install_venv() {
  local venv=$1 constraints=$2 extras=$3 log
  if [[ ! -x $venv/bin/python ]]; then
    "$PY" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1
  log=$(mktemp)
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$constraints" -e ".[$extras]" >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; echo "bootstrap: pip install into $venv failed" >&2; exit 1
  fi
  rm -f "$log"
}

if [[ $salt_line == 3008 || $salt_line == all ]]; then
  install_venv .venv constraints.txt test,lint
fi
if [[ $salt_line == 3006 || $salt_line == all ]]; then
  # salt3006: the packages salt 3006.9 imports but does not declare (setup.cfg)
  install_venv .venv-3006 constraints-3006.txt test,salt3006
fi
