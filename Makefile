# XOP operations pipeline. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: install demo sipp test ui lint bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade "pip==26.3"
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

## Run every DAG once on the embedded default (SQLite, local SMTP/FTP/SIP peers).
demo: install sipp
	$(PY) -m xop.demo

# SIPp plays the demo system's SIP trunk. Installed from Debian when missing and we are root;
# otherwise the demo still runs and its trunk check reports the trunk down (and opens a ticket).
sipp:
	@command -v sipp >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null; } || true

## Install and run the whole test suite (PostgreSQL on 127.0.0.1:5432 must be running).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## Airflow UI with this project's DAGs, plugins and the demo configuration.
ui: install
	$(PY) -m xop.demo --ui

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/demo .pytest_cache
