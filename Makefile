# so-telemetry: the usual entry points.
PYTHON ?= .venv/bin/python

.PHONY: test demo bench bench-engine bench-wire bench-idempotence bench-highstate bench-grid bench-grid-defaults bench-effect

test:
	bash scripts/test.sh

demo:
	bash scripts/demo.sh

# Every benchmark (~25-35 minutes on 2 cores, most of it the 16-minion grid twice);
# results in bench/out/ (see bench/README.md).
bench:
	@test -x $(PYTHON) || bash scripts/bootstrap.sh
	$(PYTHON) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[bench]'
	$(PYTHON) bench/run_all.py

bench-engine:
	$(PYTHON) bench/bench_engine.py
bench-wire:
	$(PYTHON) bench/bench_wire.py
bench-idempotence:
	$(PYTHON) bench/bench_idempotence.py
bench-highstate:
	$(PYTHON) bench/bench_highstate.py
bench-grid:
	$(PYTHON) bench/bench_grid.py --settings shipped
bench-grid-defaults:
	$(PYTHON) bench/bench_grid.py --settings salt-defaults --batch-sizes none
bench-effect:
	$(PYTHON) bench/bench_effect.py
