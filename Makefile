# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Everything installs from the committed uv.lock into .venv; uv itself is bootstrapped if missing.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_BOOTSTRAP := .local/bootstrap
UV := $(shell command -v uv 2>/dev/null || echo $(UV_BOOTSTRAP)/bin/uv)
# PYTHONDONTWRITEBYTECODE is set on some machines: compile at install so dbt/Airflow start fast.
export UV_COMPILE_BYTECODE := 1
export UV_LINK_MODE ?= copy
VENV_PY := .venv/bin/python
# the package layering contracts of pyproject.toml [tool.importlinter] (docs/architecture.md)
LINT_IMPORTS := .venv/bin/lint-imports --no-cache --no-logo

# What `make run` generates (the committed sample_data/ uses the same arguments).
START ?= 2026-01-01
DAYS ?= 14
SCALE ?= 0.2
SEED ?= 42
LANDING ?= data/landing
# Extras installed for tests: every engine's client, so their tests run here too.
TEST_EXTRAS ?= --all-extras

.PHONY: help install install-test run run-direct dbt airflow docs serve test lint format bench bench-scale bench-daily sample-data data-docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV_BOOTSTRAP)/bin/uv:
	@echo "uv not found: installing it into $(UV_BOOTSTRAP) from PyPI"
	$(PYTHON) -m venv $(UV_BOOTSTRAP)
	$(UV_BOOTSTRAP)/bin/pip install --quiet --disable-pip-version-check uv

install: $(if $(findstring $(UV_BOOTSTRAP),$(UV)),$(UV_BOOTSTRAP)/bin/uv) ## install the default stack from uv.lock into .venv
	$(UV) sync --frozen --inexact

install-test: $(if $(findstring $(UV_BOOTSTRAP),$(UV)),$(UV_BOOTSTRAP)/bin/uv)
	$(UV) sync --frozen $(TEST_EXTRAS)

# Personal data is hashed under PII_HASH_KEY: without one, `make run` (and run-direct, airflow)
# make a local key once in .local/pii_hash_key and say so (python -m orchestration pii-key).
run: install ## the whole pipeline on DuckDB, through the Airflow DAGs (ingest, transform, quality, ML); V=1 shows the logs
	@mkdir -p .local
	PIPELINE_START=$(START) GENERATOR_SCALE=$(SCALE) GENERATOR_SEED=$(SEED) LANDING_DIR=$(LANDING) \
		$(VENV_PY) -m orchestration run --start $(START) --days $(DAYS) $(if $(V),-v)

run-direct: install ## the same pipeline without Airflow: generate, load bronze, dbt build
	@mkdir -p .local
	$(VENV_PY) -m data_generator --start $(START) --days $(DAYS) --scale $(SCALE) --seed $(SEED) --out $(LANDING) --quiet
	LANDING_DIR=$(LANDING) $(VENV_PY) -m ingestion load --all --quiet
	export PII_HASH_KEY="$$($(VENV_PY) -m orchestration pii-key)" && cd dbt_project && \
		DBT_SEND_ANONYMOUS_USAGE_STATS=false ../.venv/bin/dbt build --quiet

# dbt from a terminal, on the warehouse `make run` built (python -m orchestration dbt: the key,
# the profiles, an absolute DUCKDB_PATH; "no warehouse at ...: run make run first" and exit 2).
dbt: install ## dbt on the local warehouse: make dbt ARGS="build --select fct_orders"
	@$(VENV_PY) -m orchestration dbt $(ARGS)

airflow: install ## a real local Airflow on 127.0.0.1:8080 (api-server, scheduler, dag-processor, triggerer)
	PIPELINE_START=$(START) GENERATOR_SCALE=$(SCALE) GENERATOR_SEED=$(SEED) LANDING_DIR=$(LANDING) \
		$(VENV_PY) -m orchestration serve

docs: install ## dbt docs, Data Docs (http://127.0.0.1:8090) and the MLflow UI (:8091); Ctrl-C stops
	$(VENV_PY) -m orchestration.docs $(DOCS_ARGS)

serve: install ## the metrics API and live page on http://127.0.0.1:8070 (REDIS_URL: shared cache); Ctrl-C stops
	$(VENV_PY) -m metrics_api serve $(SERVE_ARGS)

test: install-test ## lint, then the whole test suite
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m sqlfluff lint dbt_project/models
	$(LINT_IMPORTS)
	$(VENV_PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install ## ruff lint and format check, sqlfluff on the dbt models, the import layers
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .
	$(VENV_PY) -m sqlfluff lint dbt_project/models
	$(LINT_IMPORTS)

format: install ## apply ruff fixes and formatting
	$(VENV_PY) -m ruff check --fix .
	$(VENV_PY) -m ruff format .

bench: install ## benchmarks, printed as a table
	$(VENV_PY) -m benchmarks $(BENCH_ARGS)

BENCH_SCALE ?= 10
BENCH_DAYS ?= 365
BENCH_ENGINE ?= duckdb
bench-scale: install ## the whole pipeline at one scale, stage by stage: make bench-scale BENCH_SCALE=100
	$(VENV_PY) -m benchmarks --only scale --scale $(BENCH_SCALE) --days $(BENCH_DAYS) --engine $(BENCH_ENGINE)

bench-daily: install ## the daily dbt build after a year and after two: make bench-daily BENCH_SCALE=10
	$(VENV_PY) -m benchmarks --only daily --scale $(BENCH_SCALE) --days $(BENCH_DAYS)

sample-data: install ## regenerate sample_data/ (a test checks it never drifts)
	rm -rf sample_data/*/ sample_data/_*.json
	$(VENV_PY) -m data_generator --start $(START) --days $(DAYS) --scale $(SCALE) --seed $(SEED) --out sample_data --quiet

data-docs: install ## rebuild the Great Expectations Data Docs (after make run) and screenshot them
	$(VENV_PY) -m quality docs --screenshot .local/quality/data_docs.png

# Everything a run leaves behind goes, so the next `make run` starts as on a fresh clone (no old
# champion, alert state or Airflow history). Kept: .venv, the uv bootstrap and the PII hash key.
KEEP_LOCAL := $(notdir $(UV_BOOTSTRAP)) pii_hash_key
clean: ## remove data/, .local/, dbt's target/ and logs/; keeps .venv, the uv bootstrap, the PII key
	rm -rf data .pytest_cache dbt_project/target dbt_project/logs
	@if [ -d .local ]; then \
		echo "rm -rf .local/* except $(KEEP_LOCAL)"; \
		find .local -mindepth 1 -maxdepth 1 $(foreach k,$(KEEP_LOCAL),! -name $(k)) -exec rm -rf {} +; \
	fi
	@echo "kept .venv, $(UV_BOOTSTRAP) (uv) and .local/pii_hash_key: a new key changes every personal-data hash (delete it by hand to rotate it; README.md, Security)"
