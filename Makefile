# Oficialía de Partes Electrónica — set-up, run, test, bench.
# `make run` and `make test` install whatever is missing first (system packages included).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app app
APT_PACKAGES := tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng ghostscript unpaper pngquant qpdf \
	poppler-utils chromium fonts-dejavu-core softhsm2 libnss3-tools
# Commands that may come from another source (e.g. Node.js installed outside apt): package if absent.
APT_COMMANDS := npm:nodejs,npm pg_isready:postgresql-client redis-cli:redis-tools
TEST_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: install system python frontend services run test lint typecheck pytest bench clean

install: system python frontend

# System packages: install only what is missing (Debian; run as root or with sudo).
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for c in $(APT_COMMANDS); do command -v $${c%%:*} >/dev/null 2>&1 || missing="$$missing $$(echo $${c#*:} | tr , ' ')"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Instalando paquetes del sistema:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip==25.3
	$(PY) -m pip install -q -e ".[dev]"
	@touch $@

frontend: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

# PostgreSQL and Redis for the tests: start them if they are down.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done

# The embedded default: SQLite, local storage, in-process jobs, demo data.
run: install
	$(FLASK) db upgrade
	@# the first time, also three years of history so the statistics have something to show
	@if [ -f instance/.demo-history ]; then $(FLASK) demo; else $(FLASK) demo --filings 3000 && touch instance/.demo-history; fi
	@echo "Sirviendo en http://127.0.0.1:5000"
	$(FLASK) run --host 127.0.0.1 --port 5000

lint: python
	$(VENV)/bin/ruff check .

typecheck: python
	$(VENV)/bin/mypy app.py oficialia firma storage workflows

# The whole suite on PostgreSQL, then every database test again on SQLite.
pytest: install services
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) OFICIALIA_TEST_REDIS=$(TEST_REDIS_URL) $(VENV)/bin/pytest -q
	OFICIALIA_TEST_DATABASE=sqlite OFICIALIA_TEST_REDIS=$(TEST_REDIS_URL) $(VENV)/bin/pytest -q -m "db and not browser and not postgres"

test: lint typecheck pytest

# Results land in bench/results/*.md (the README links them).
bench: install services
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) $(PY) -m bench.intake
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) $(PY) -m bench.ocr
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) $(PY) -m bench.workflow
	$(PY) -m bench.signing
	$(PY) -m bench.verify
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) $(PY) -m bench.stats
	OFICIALIA_TEST_DATABASE=$(TEST_PG_URL) $(PY) -m bench.api_platform

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
