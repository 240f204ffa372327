# Two entry points (see README "Quick start"); both set themselves up.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup bench clean

setup:
	@bash .ci/setup

demo: setup
	$(PY) -m dispatcher invoke --config examples/python-hello/dispatcher.yaml '{"name": "Ada"}'

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
