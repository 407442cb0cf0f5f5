# Two commands for a fresh clone: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck cfn-lint bench fault-suite openapi deploy clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(PY) -m devstack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy layers/messaging/sinch_gateway functions devstack tests

cfn-lint: install
	$(VENV)/bin/cfn-lint template.yaml

# pytest exits 5 when it collected no tests: for us that is a broken suite, never a pass.
test: install lint typecheck cfn-lint
	@$(PY) -m pytest -n 2 -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is misconfigured" >&2; fi; \
	exit $$rc

bench: install
	$(PY) -m devstack.bench

# Lost / doubled / final counts under every fault at once, on a fresh local stack: make fault-suite N=10000
N ?= 1000
fault-suite: install
	$(PY) -m devstack.fault_suite --count $(N)

# docs/openapi.json is generated from the code; a test fails when it is stale.
openapi: install
	$(PY) -m devstack.openapi

# Real AWS: SAM CLI lives in its own environment (it pins an older boto3 than the project).
deploy:
	$(PYTHON) -m venv .venv-sam
	.venv-sam/bin/pip install --quiet aws-sam-cli
	.venv-sam/bin/sam build
	.venv-sam/bin/sam deploy --guided

clean:
	rm -rf $(VENV) .venv-sam .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
