# The two commands a new user runs: `make up` and `make test`. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
export PYTHON := $(CURDIR)/$(PY)

.PHONY: up down status inbox watch report screenshots test test-unit test-integration test-e2e test-faults lint bootstrap infra migrate eval bench dashboards asyncapi lock audit

bootstrap:
	@bash deploy/local/bootstrap.sh

up: bootstrap
	@bash deploy/local/stack.sh up

down:
	@bash deploy/local/stack.sh down

status:
	@bash deploy/local/stack.sh status

# What the local WeCom stand-in received: group-robot messages, app messages and e-mail.
inbox:
	@bash deploy/local/wecom_standin.sh inbox

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

# Faults under a steady load (scorer kill -9, Kafka and PostgreSQL restarts, one broker of three
# killed, rebalance, notifier kill -9, poison records), each compared with a clean run; on a stack of their own
# ($$WQ_STACK_DIR/faults, ports base+3). Part of `make test` too. See RELIABILITY.md.
test-faults: bootstrap
	@$(PY) -m pytest -q -s -p no:cacheprovider tests/faults

lint: bootstrap
	@$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy

# The dependency locks, with hashes, for Python 3.11 on Linux x86_64, compiled by uv from
# pyproject.toml (its dependencies and build backend): requirements-dev.lock (runtime + dev,
# installed by bootstrap and CI) and requirements.lock (runtime, installed by the Dockerfile; the
# same pins). Every pin that still fits pyproject.toml is kept; LOCK_ARGS passes options, e.g.
# LOCK_ARGS="--upgrade-package aiohttp" or LOCK_ARGS=--upgrade. tests/unit/test_lock.py fails
# while pyproject.toml and the locks disagree.
LOCK_FLAGS = --quiet --generate-hashes --python-version 3.11 \
  --python-platform x86_64-unknown-linux-gnu --custom-compile-command "make lock" $(LOCK_ARGS)
BUILD_REQUIRES = $(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")'
lock: bootstrap
	@$(BUILD_REQUIRES) | $(PY) -m uv pip compile pyproject.toml - --extra dev \
	  -o requirements-dev.lock $(LOCK_FLAGS)
	@$(BUILD_REQUIRES) | $(PY) -m uv pip compile pyproject.toml - -c requirements-dev.lock \
	  -o requirements.lock $(LOCK_FLAGS)
	@echo "requirements-dev.lock and requirements.lock written (make bootstrap installs them)"

# Known vulnerabilities in the locked versions (pip-audit against requirements-dev.lock, which
# holds every pin of requirements.lock). Fails on a finding, and fails loudly (exit 3) when no
# advisory source answers: an audit that could not ask is never reported as clean.
# AUDIT_SERVICE=osv asks the OSV database instead of PyPI.
audit: bootstrap
	@$(PY) -m tools.audit_lock $(if $(AUDIT_SERVICE),--service $(AUDIT_SERVICE))

# Anomaly evaluation: simulated months (the fixed seeds of tools/evaluate/split.py, tuning and
# held-out, two camouflage levels) through the real ingestor and scorer; reports tuning and
# held-out seeds and gaming kinds apart; writes eval/results/eval-*.json and a PNG chart. EVAL_ARGS
# passes options, e.g. EVAL_ARGS="--feed events" (everything on /v1/events, not WeCom callbacks).
eval: bootstrap
	@$(PY) -m tools.evaluate --out eval/results $(EVAL_ARGS)

# The benchmark suite (README "Performance"): ingestor callbacks, scorer drain, end-to-end
# latency, scale-out, scale of state, lookups, the spool's replay, the soak; each figure beside a
# reference measured in the same run. BENCH_QUICK=1 for a small run (minutes, a 2-minute soak);
# the full run adds the soak only with SOAK_MINUTES=30; BENCH=soak runs it alone (30 min);
# BENCH="drain live" picks benchmarks. Results: bench/results/*.json and bench/results/table.md.
bench: bootstrap
	@$(PY) -m bench $(if $(BENCH),--only $(BENCH))


# Grafana dashboards from code (tools/dashboards, grafana-foundation-sdk) into
# deploy/grafana/dashboards/*.json, which are checked in; a test fails when they differ.
dashboards: bootstrap
	@$(PY) -m tools.dashboards

# The AsyncAPI documents of the Kafka topics (shared/asyncapi.py), as each service serves them
# at GET /asyncapi.json with the default settings, into docs/asyncapi/*.json, which are checked
# in; a test fails when they differ.
asyncapi: bootstrap
	@$(PY) -m tools.asyncapi
