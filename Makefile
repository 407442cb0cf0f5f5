# Two commands for a fresh clone: `make run` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
SHELL := bash
.SHELLFLAGS := -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Hash-pinned locks of every transitive dependency, written by `make lock` from pyproject.toml.
DEV_LOCK := requirements/dev.txt
LAYER_LOCK := layers/messaging/requirements.txt
LOCKS := $(DEV_LOCK) $(LAYER_LOCK) requirements/sam.txt requirements/audit.txt requirements/bench-sdk.txt
# Installs exactly what a lock names (and removes anything else), every file checked against the
# lock's hashes. uv is itself pinned in the dev lock, from which pip installs it first. Compiled
# to bytecode at install: where PYTHONDONTWRITEBYTECODE is set (as on the team's machines) a venv
# would otherwise compile every module again in every process, twice as slow to import, and the
# local stack's functions then overrun their init timeout under load.
UV_SYNC := $(VENV)/bin/uv pip sync --quiet --system-certs --require-hashes --compile-bytecode
UV_INSTALL := $(VENV)/bin/uv pip install --quiet --system-certs --require-hashes

# The web composer's tests drive Debian's chromium (Playwright's own browser download is not
# reachable from CI). CI runs as root; elsewhere sudo installs it, if there is a sudo.
CHROMIUM := /usr/bin/chromium

.PHONY: install browser run test lint typecheck cfn-lint bench fault-suite openapi lock audit deploy clean

install: $(STAMP)

$(VENV)/.locked: $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	awk '/^[^ #]/ { pin = /^uv==/ } pin' $(DEV_LOCK) | $(PY) -m pip install --quiet --require-hashes --no-deps -r /dev/stdin
	$(UV_SYNC) --python $(PY) $(DEV_LOCK)
	touch $@

# The project itself, editable, built by the lock's setuptools: build isolation would fetch an
# unpinned one.
$(STAMP): $(VENV)/.locked pyproject.toml
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps --no-build-isolation --editable .
	touch $@

# Tools in their own venvs, installed once per lock: .venv-sam (SAM CLI), .venv-audit (pip-audit).
.venv-%/.installed: requirements/%.txt | $(VENV)/.locked
	$(PYTHON) -m venv .venv-$*
	$(UV_SYNC) --python .venv-$*/bin/python $<
	touch $@

run: install
	$(PY) -m devstack

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy layers/messaging/sinch_gateway functions devstack ops gateway_admin tests

# template.yaml as written, then as CloudFormation sees it, with observability.yaml inlined
# (cfn-lint does not follow AWS::Include; it reads the whole template from stdin).
cfn-lint: install
	$(VENV)/bin/cfn-lint template.yaml
	$(PY) -m devstack.template template.yaml | $(VENV)/bin/cfn-lint

browser:
	@if [ -x $(CHROMIUM) ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null; then \
		echo "$(CHROMIUM) is missing and there is no apt-get: install Debian's chromium package" >&2; exit 1; \
	elif [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null; then sudo="sudo"; \
	else echo "$(CHROMIUM) is missing: as root, run apt-get update && apt-get install -y chromium" >&2; exit 1; fi; \
	$$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# pytest exits 5 when it collected no tests: for us that is a broken suite, never a pass.
test: install browser lint typecheck cfn-lint .venv-sam/.installed
	@$(PY) -m pytest -n 2 -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is misconfigured" >&2; fi; \
	exit $$rc

# Cold starts are measured on a Lambda-like runtime: the layer exactly as `sam build` makes it (its own
# Makefile), then what Lambda's Python runtime provides (boto3, botocore and their dependencies, with
# bytecode, pinned as in the dev lock), and nothing else.
BENCH_RUNTIME := .bench/runtime
BENCH_LAYER := .bench/layer
$(BENCH_RUNTIME)/.installed: $(DEV_LOCK) | $(VENV)/.locked
	rm -rf $(BENCH_RUNTIME)
	awk '/^[^ #]/ { pin = /^(boto3|botocore|s3transfer|python-dateutil|six|jmespath|urllib3)==/ } pin' $(DEV_LOCK) | \
	  $(UV_INSTALL) --no-deps --compile-bytecode --python $(PYTHON) --target $(BENCH_RUNTIME) -r /dev/stdin
	touch $@

$(BENCH_LAYER)/.built: $(LAYER_LOCK) layers/messaging/Makefile $(shell find layers/messaging/sinch_gateway -name '*.py') | $(VENV)/.locked
	rm -rf $(BENCH_LAYER) && mkdir -p $(BENCH_LAYER)
	$(MAKE) -C layers/messaging build-MessagingLayer ARTIFACTS_DIR=$(abspath $(BENCH_LAYER)) PYTHON=$(abspath $(PY))
	touch $@

bench: install $(BENCH_RUNTIME)/.installed $(BENCH_LAYER)/.built .venv-bench-sdk/.installed
	$(PY) -m devstack.bench $(BENCH_ARGS)

# Lost / doubled / final counts under every fault at once, on a fresh local stack: make fault-suite N=10000
N ?= 1000
BATCHES ?= 0
fault-suite: install
	$(PY) -m devstack.fault_suite --count $(N) --batches $(BATCHES)

# docs/openapi.json is generated from the code; a test fails when it is stale.
openapi: install
	$(PY) -m devstack.openapi

# Rewrites every lock from pyproject.toml, for CPython 3.11 on the Lambda runtime's platform, with
# the hashes of all of each release's files. Pins stay where pyproject allows them;
# `make lock UPGRADE=1` moves every indirect pin to its newest release.
UV_COMPILE = $(VENV)/bin/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux2014 --system-certs --custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
define LAYER_INPUT
import tomllib
from packaging.requirements import Requirement
with open("pyproject.toml", "rb") as file:
    pyproject = tomllib.load(file)
provided = pyproject["tool"]["sinch-gateway"]["lambda-runtime-provides"]
print("\n".join(d for d in pyproject["project"]["dependencies"] if Requirement(d).name not in provided))
endef
export LAYER_INPUT
# What Lambda provides is left out of the layer's resolution, with whatever only it needs.
LAYER_EXCLUDES = $(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["sinch-gateway"]["lambda-runtime-provides"]))'

lock: install
	$(UV_COMPILE) pyproject.toml --extra dev -o $(DEV_LOCK)
	$(PY) -c "$$LAYER_INPUT" | $(UV_COMPILE) - --constraint $(DEV_LOCK) --excludes <($(LAYER_EXCLUDES)) \
	  --only-binary :all: -o $(LAYER_LOCK)
	$(UV_COMPILE) --group pyproject.toml:sam -o requirements/sam.txt
	$(UV_COMPILE) --group pyproject.toml:audit -o requirements/audit.txt
	$(UV_COMPILE) --group pyproject.toml:bench-sdk -o requirements/bench-sdk.txt

# Known vulnerabilities in every lock, from PyPI's JSON API, which also confirms each hash (needs the
# network; not part of `make test`). Where that API cannot be reached pip-audit would call each
# package "not found on PyPI": ask it once first, and say so. An accepted risk:
# make audit AUDIT_FLAGS='--ignore-vuln ID'.
define AUDIT_PROBE
import sys, urllib.request
url = "https://pypi.org/pypi/pip-audit/2.10.1/json"
try:
    urllib.request.urlopen(url, timeout=15).close()
except OSError as error:
    sys.exit(f"make audit: PyPI's vulnerability data cannot be reached from here ({url}: {error}). Nothing was audited.")
endef
export AUDIT_PROBE
audit: .venv-audit/.installed
	@.venv-audit/bin/python -c "$$AUDIT_PROBE"
	@rc=0; for lock in $(LOCKS); do echo "$$lock:"; \
	  .venv-audit/bin/pip-audit --strict --disable-pip --require-hashes --progress-spinner off $(AUDIT_FLAGS) \
	    -r $$lock || rc=1; \
	done; exit $$rc

# Real AWS: SAM CLI lives in its own environment (it pins an older boto3 than the project).
deploy: .venv-sam/.installed
	.venv-sam/bin/sam build
	.venv-sam/bin/sam deploy --guided

clean:
	rm -rf $(VENV) .venv-sam .venv-audit .aws-sam .local .pytest_cache .mypy_cache .ruff_cache
