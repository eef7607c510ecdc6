# The two commands a new user runs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHON := $(CURDIR)/$(PY)

.PHONY: up down status watch report screenshots test test-unit test-integration test-e2e lint bootstrap infra migrate eval bench

bootstrap:
	@bash deploy/local/bootstrap.sh

up: bootstrap
	@bash deploy/local/stack.sh up

down:
	@bash deploy/local/stack.sh down

status:
	@bash deploy/local/stack.sh status

# The live terminal summary of the running stack (Ctrl-C stops watching, not the stack).
watch: bootstrap
	@bash deploy/local/watch.sh watch

# HTML report with charts, for e-mail: make report PERIOD=2026-11 BRANCH=br01 [OUT=file.html]
report: bootstrap
	@bash deploy/local/report.sh

# README pictures from the running stack (dev-time, needs chromium): docs/report.png and
# docs/live-summary.txt.
screenshots: bootstrap
	@bash deploy/local/screenshots.sh

infra: bootstrap
	@bash deploy/local/stack.sh infra

migrate: bootstrap
	@bash deploy/local/stack.sh migrate

# Unit tests need nothing; integration and e2e tiers start real Kafka and PostgreSQL
# themselves (tests/conftest.py) unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are given.
test: bootstrap
	@$(PY) -m pytest -q -p no:cacheprovider tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 1; fi; exit $$rc

test-unit: bootstrap
	@$(PY) -m pytest -q tests/unit

test-integration: bootstrap
	@$(PY) -m pytest -q tests/integration

test-e2e: bootstrap
	@$(PY) -m pytest -q tests/e2e

lint: bootstrap
	@$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

# Anomaly evaluation: simulated months (fixed seeds, two camouflage levels) through the real
# ingestor and scorer; writes eval/results/eval-*.json and a PNG chart.
eval: bootstrap
	@$(PY) -m tools.evaluate --out eval/results

# Scorer drain rate of a pre-loaded backlog (100,000 contact events by default); the rest of
# the benchmark suite (issue 9) is still to come.
bench: bootstrap
	@$(PY) -m bench.drain
