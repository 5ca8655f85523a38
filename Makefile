# Brain-Go-Brrr: the two commands a newcomer types are `make demo` and `make test`.
# Everything installs itself: the virtual environment (in the user's cache folder, keyed by
# requirements.lock), the Kafka broker jars, PostgreSQL, Redis and the S3 server.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := $(shell scripts/ensure_venv.sh)
PY := PYTHONPATH=$(CURDIR) $(VENV)/bin/python
BRRR := $(PY) -m streams.cli

.PHONY: demo test test-unit lint format stack-up stack-down stack-status lock bench venv

venv:  ## build the virtual environment and print where it is
	@echo $(VENV)

demo:  ## install what is missing, start the stack and run EEG through Kafka to results
	$(BRRR) demo

test:  ## install what is missing, start the stack and run the whole test suite
	$(BRRR) stack up
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -ra

test-unit:  ## the tests that need no service
	$(PY) -m pytest -ra -m "not integration"

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format:
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

stack-up:
	$(BRRR) stack up

stack-down:
	$(BRRR) stack down

stack-status:
	$(BRRR) stack status

bench:  ## benchmarks that print figures (no asserts)
	$(BRRR) bench processors
	$(BRRR) bench connectors

lock:  ## re-resolve requirements.in into requirements.lock
	$(dir $(VENV))bootstrap-uv-0.13.8/bin/uv pip compile requirements.in -o requirements.lock \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28
