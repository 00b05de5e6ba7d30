#!/usr/bin/env bash
# Lint: ruff on the Python (config in pyproject.toml), docutils on the docs, and salt-lint on every
# SLS under salt/ (its default rules: every one fits these SLS, none is
# skipped). Needs .venv with the `lint` extra (scripts/bootstrap.sh --salt
# 3008). Exits non-zero on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
echo "lint: ruff check"
.venv/bin/ruff check --no-cache --output-format concise . || rc=1
echo "lint: salt-lint salt/**/*.sls"
mapfile -t sls < <(find salt -name '*.sls' | sort)
if [[ ${#sls[@]} == 0 ]]; then
  echo "lint: no SLS under salt/" >&2; rc=1
else
  .venv/bin/salt-lint "${sls[@]}" || rc=1
fi
echo "lint: reStructuredText (README.rst, CHANGELOG.rst, docs/*.rst render without a warning)"
.venv/bin/python scripts/check_rst.py README.rst CHANGELOG.rst docs/*.rst || rc=1
[[ $rc == 0 ]] && echo "lint: clean" || echo "lint: FAILED" >&2
exit $rc
