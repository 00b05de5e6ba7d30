#!/usr/bin/env bash
# The whole test suite: set up (.venv; dnf and createrepo-c when root), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --system-packages
exec .venv/bin/python -m pytest "$@"
