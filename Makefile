# The README's two commands are `make run` and `make test`; everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python

.PHONY: run test test-unit test-pending test-containers install lint typecheck schemas infra-stop bench clean

run: install                     ## infrastructure + all five services; Ctrl-C stops everything
	$(PY) -m shared.cli run

test: install                    ## the whole suite: unit, integration, end to end (real PostgreSQL and Kafka)
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

# The integration tests with PostgreSQL and Kafka as testcontainers containers in podman (docs/operations.md,
# "testcontainers fixtures"; CI runs the whole suite that way: `PMO_TEST_INFRA=containers make test`). CONTAINER_TESTS
# names fewer files for a quicker look, e.g. `make test-containers CONTAINER_TESTS=tests/integration/test_relay.py`.
CONTAINER_TESTS ?= tests/integration

test-containers: install         ## integration tests on PostgreSQL and Kafka in podman containers (CONTAINER_TESTS)
	PMO_TEST_INFRA=containers $(PY) -m pytest $(CONTAINER_TESTS)

test-pending: install             ## the scenarios built but not yet passing reliably (marked `pending`, each says why)
	$(PY) -m pytest -m pending || [ $$? -eq 5 ]  # 5: no test is pending today

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-dev.lock   ## the locked versions (docs/operations.md, "Lock files")
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(PY) -m pip install --quiet --no-deps -e '.[dev]'
	touch $@

lint: install
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench

typecheck: install
	$(VENV)/bin/mypy

bench: install                   ## benchmarks: print figures, write bench/results/latest.json (see bench/README.md)
	$(PY) -m bench

schemas: install                 ## JSON Schemas (docs/events/) and AsyncAPI document (docs/asyncapi.yaml) from the contracts
	$(PY) -m shared.contracts docs

infra-stop: install              ## stop the private PostgreSQL and Kafka
	$(PY) -m shared.cli infra stop

clean: infra-stop
	rm -rf .pmo $(VENV)
