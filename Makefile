# The two commands in the README must work on a fresh machine: everything they need
# is installed here from pyproject.toml, never by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck pytest bench clean .venv-featuretools base-image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_DEMO)

# featuretools and fastdfs, for the feature engineering tests and benchmark only (never
# runtime dependencies): featuretools' last release (1.31) breaks on pandas 3 and fastdfs
# needs pandas < 3 too, so they get an environment of their own with pandas 2.
FEATURETOOLS_VENV := .venv-featuretools
STAMP_FEATURETOOLS := $(FEATURETOOLS_VENV)/.installed
$(STAMP_FEATURETOOLS):
	$(PYTHON) -m venv $(FEATURETOOLS_VENV)
	$(FEATURETOOLS_VENV)/bin/pip install --quiet 'featuretools==1.31.0' 'pandas>=2.3,<3' pyarrow fastdfs
	touch $@

.venv-featuretools: $(STAMP_FEATURETOOLS)

# checkov, which the deploy tests run over the rendered Kubernetes files and Dockerfile:
# its many exact pins (boto3, jsonschema, ...) would fight ours, so it lives apart too.
CHECKOV_VENV := .venv-checkov
STAMP_CHECKOV := $(CHECKOV_VENV)/.installed
$(STAMP_CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

# Evidently, which benchmarks/monitor.py runs beside `scalepipe monitor drift`: for the
# benchmark only, in its own environment so that its pins never meet ours; Evidently
# 0.7 imports pandas internals that pandas 3 removed.
EVIDENTLY_VENV := .venv-evidently
STAMP_EVIDENTLY := $(EVIDENTLY_VENV)/.installed
$(STAMP_EVIDENTLY):
	$(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(EVIDENTLY_VENV)/bin/pip install --quiet 'evidently>=0.7,<0.8' 'pandas>=2.2,<3' pyarrow
	touch $@

demo: $(STAMP_DEMO)
	$(BIN)/scalepipe quickstart

# Apache Airflow 3, to load and run the DAGs `scalepipe workflow airflow` writes: its own
# environment (its pins must not leak into ours; its constraint files cannot be fetched
# here), with scalepipe installed next to it as a user would. 3.3.2: the release checked.
AIRFLOW_VENV := .venv-airflow
STAMP_AIRFLOW := $(AIRFLOW_VENV)/.installed
$(STAMP_AIRFLOW): pyproject.toml
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet 'apache-airflow==3.3.2'
	$(AIRFLOW_VENV)/bin/pip install --quiet -e '.[workflow]'
	touch $@

test: $(STAMP_DEV) $(STAMP_FEATURETOOLS) $(STAMP_CHECKOV) $(STAMP_AIRFLOW)
	@# The model app's tests drive Debian's headless Chromium (Playwright cannot fetch its own).
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	@# The deploy tests build images with podman (on a Debian base made by debootstrap: no
	@# registry is reachable) and roll them behind HAProxy.
	@command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
	  && command -v haproxy >/dev/null \
	  || (apt-get update -qq && apt-get install -y -qq podman runc debootstrap haproxy)
	$(BIN)/ruff check scalepipe tests benchmarks examples
	$(BIN)/ruff format --check scalepipe tests benchmarks examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

# The base image of the deploy tests and benchmark: Debian 12 with Python 3.11, made by
# debootstrap (elsewhere, the Dockerfile's default python:3.11-slim-bookworm does).
BASE_IMAGE := localhost/scalepipe-base:bookworm
base-image:
	@command -v podman >/dev/null && command -v debootstrap >/dev/null \
	  || (apt-get update -qq && apt-get install -y -qq podman runc debootstrap)
	CONTAINERS_CONF=tests/deploy/containers.conf podman image exists $(BASE_IMAGE) \
	  || CONTAINERS_CONF=tests/deploy/containers.conf bash scripts/base-image.sh $(BASE_IMAGE)

bench: $(STAMP_DEV) $(STAMP_EVIDENTLY) base-image
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@test -x /usr/bin/time || (apt-get update -qq && apt-get install -y -qq time)
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(FEATURETOOLS_VENV) $(CHECKOV_VENV) $(AIRFLOW_VENV) $(EVIDENTLY_VENV) .pytest_cache .mypy_cache .ruff_cache build dist
