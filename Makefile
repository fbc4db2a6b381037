# MedCloud: `make run` starts the whole stack, `make test` runs every test. See README.md.
SHELL := /bin/bash
PY := .venv/bin/python
UV := .venv/bin/uv
MODEL ?= ynet
DATA ?= ../shared/data/brain_mri_cheng ../shared/data/brain_mri_no_tumor
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export PYTHONPATH := $(CURDIR)/backend

.PHONY: help run test test-fast install system-deps python-deps frontend services-start services-stop lint typecheck \
        train evaluate benchmark-ai benchmark-pacs benchmark-inference schema clean

help:
	@echo "make run       install what is missing, start the whole stack (https://localhost:8443)"
	@echo "make test      install what is missing, run the Python and frontend tests"
	@echo "make test-fast the unit and database-level tests only (no servers, no TensorFlow): seconds"
	@echo "make train MODEL=ynet | make evaluate MODEL=ynet DATA=\"DIR [DIR ...]\" | make benchmark-ai"
	@echo "make lint typecheck schema services-start services-stop clean"

run: install
	@scripts/run.sh

test: install
	@scripts/test.sh

test-fast: python-deps
	@scripts/test.sh --fast

install: system-deps python-deps frontend

system-deps:
	@scripts/install_system_deps.sh

python-deps: .venv/.installed

.venv/.installed: pyproject.toml
	@test -x $(PY) || python3.11 -m venv .venv
	@test -x $(UV) || $(PY) -m pip install -q "uv>=0.5,<1"
	$(UV) pip install -q -p $(PY) -e ".[ml,dev]"
	@touch $@

frontend: python-deps
	@scripts/ensure_node.sh
	@scripts/build_frontend.sh

services-start:
	@python3 scripts/ensure_env.py && scripts/services.sh start

services-stop:
	@scripts/services.sh stop

lint: python-deps
	.venv/bin/ruff check backend tests benchmarks
	python3 scripts/check_imports.py  # no import cycle; core and crypto import no domain app

typecheck: python-deps
	.venv/bin/mypy

schema: python-deps
	@python3 scripts/ensure_env.py
	$(PY) backend/manage.py spectacular --file docs/api/openapi.yaml --validate
	@echo "wrote docs/api/openapi.yaml"

train: python-deps
	$(PY) -m medcloud.ai train --model $(MODEL)

evaluate: python-deps
	@$(PY) -m medcloud.ai evaluate --model $(MODEL) --data $(DATA)

benchmark-ai: python-deps
	$(PY) -m medcloud.ai benchmark --model $(MODEL)

benchmark-pacs: python-deps
	@python3 scripts/ensure_env.py && scripts/services.sh start >/dev/null
	$(PY) -m benchmarks.pacs $(ARGS)

benchmark-inference: python-deps
	@python3 scripts/ensure_env.py && scripts/services.sh start >/dev/null
	$(PY) -m benchmarks.inference $(ARGS)

clean:
	scripts/services.sh stop || true
	rm -rf .var frontend/dist frontend/node_modules
