# XOP operations pipeline. `make demo` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/plugins

# Debian packages the tests drive for real: SIPp (far end of SIP calls), vsftpd (FTPS with
# session reuse), sshd (remote health probes), the PostgreSQL client tools (pg_dump/pg_restore),
# Chromium and its driver (browser tests of the pages), ClamAV's scanner (virus-scan probe; no
# signatures are downloaded), curl (HTTP probes over SSH), docker-compose (validates
# docker-compose.yaml without an engine), Dovecot (the support mailbox over IMAP), espeak-ng
# (the emergency call's announcement).
TEST_DEBS := sip-tester vsftpd openssh-server openssh-client postgresql-client chromium \
	chromium-driver clamav curl docker-compose dovecot-imapd espeak-ng
# The demo's optional peers: it runs without them (and says what it misses).
DEMO_DEBS := sip-tester dovecot-imapd espeak-ng

.PHONY: install debs-test debs-demo demo test ui lint lock bench clean

# One virtual environment for everything the checkout does: the runtime lock plus the dev lock.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -qq --upgrade "pip==26.3"
	$(VENV)/bin/pip install -qq -r requirements.txt -r requirements-dev.txt
	touch $@

# The XOP connection types for Admin -> Connections: a distribution of declarations only (it
# imports nothing of xop), so Airflow processes start with or without plugins/ (docs/connections.md).
# Not editable: the venv keeps working when the checkout moves. The project itself is never installed.
PROVIDER_INFO := providers/xop-provider-info
$(VENV)/.provider-info: $(VENV)/.installed $(PROVIDER_INFO)/pyproject.toml $(PROVIDER_INFO)/xop_provider_info/__init__.py
	$(VENV)/bin/pip install -qq --force-reinstall --no-deps ./$(PROVIDER_INFO)
	rm -rf $(PROVIDER_INFO)/build
	touch $@

install: $(VENV)/.installed $(VENV)/.provider-info

# Both targets check each package with dpkg-query and install the missing ones with apt-get
# (as root on Debian; otherwise they print the apt-get line to run): scripts/ensure-debian-packages.
debs-test:
	@scripts/ensure-debian-packages $(TEST_DEBS)

debs-demo:
	@scripts/ensure-debian-packages --best-effort $(DEMO_DEBS)

## Run every DAG once on the embedded default (SQLite, local SMTP/IMAP/FTP/SIP peers).
demo: install debs-demo
	@$(PY) -m xop.demo

## Install what the tests need (Python and Debian packages) and run the whole suite.
## PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 must be running.
test: install debs-test
	$(PY) -m pytest $(PYTEST_ARGS)

## Airflow UI with this project's DAGs, plugins and the demo configuration; Ctrl-C stops it all.
ui: install debs-demo
	@$(PY) -m xop.demo --ui

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

## Regenerate requirements.txt (runtime) and requirements-dev.txt from pyproject.toml, keeping
## today's pins where they still fit (pip-tools in a throwaway venv; not part of the dev set).
lock:
	rm -rf $(VENV)-lock && $(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install -q pip-tools==7.6.2
	$(VENV)-lock/bin/pip-compile -q --no-strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-annotate --no-header -o requirements.txt pyproject.toml
	$(VENV)-lock/bin/pip-compile -q --no-strip-extras --no-emit-index-url --no-emit-find-links \
	  --no-annotate --no-header --extra dev -c requirements.txt -o requirements-dev.txt pyproject.toml
	# The extras name the project itself (xop-ops[demo]); it is not installed, only its deps are.
	sed -i '/^xop-ops/d' requirements-dev.txt
	# pip-compile leaves the project's metadata here; on sys.path (the repo root) its stale entry
	# points would be read by Airflow's providers manager.
	rm -rf $(VENV)-lock xop_ops.egg-info

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf var/demo .pytest_cache
