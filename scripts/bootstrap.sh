#!/usr/bin/env bash
# Create .venv with this library and its test tools installed. As root on
# Debian, with --system-packages, also install dnf and createrepo-c (the real
# dnf client and repository tool the repository tests use).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if [[ " $* " == *" --system-packages "* ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  if ! command -v dnf >/dev/null || ! command -v createrepo_c >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq dnf createrepo-c >/dev/null
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1
log=$(mktemp)
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test]' >"$log" 2>&1; then
  cat "$log"; rm -f "$log"; echo "bootstrap: pip install failed" >&2; exit 1
fi
rm -f "$log"
