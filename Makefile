# golive: `make demo` runs the whole go-live against the built-in sandbox; `make test` runs the project's tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.golive-installed
# 4 workers on 2 cores: the end-to-end runs spend much of their time waiting on the sandbox (measured: 4 workers
# 517 s, 3 workers 575 s for the same 1,373 tests).
WORKERS ?= 4
# The real pipeline, locally: gitlab-ci-local from npm, in .tools/ (git-ignored).
GITLAB_CI_LOCAL_VERSION := 4.60.0
GITLAB_CI_LOCAL := .tools/.gitlab-ci-local-$(GITLAB_CI_LOCAL_VERSION)

.PHONY: venv demo test lint bench clean pipeline pipeline-test tools

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/golive demo

test: $(STAMP)
	$(PY) -m pytest tests -p no:cacheprovider -n $(WORKERS) --dist loadscope -q -m "not pipeline"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Runs .gitlab-ci.yml with gitlab-ci-local against the sandbox (tests/localci.py); FAULT=NAME: must stop at its stage.
pipeline: $(STAMP) $(GITLAB_CI_LOCAL)
	$(PY) -m tests.localci $(if $(FAULT),--fault $(FAULT))

# tests/test_pipeline.py: the healthy pipeline (strict) and two faulted ones, asserted (about 2 minutes; CI runs it
# after make test).
pipeline-test: $(STAMP) $(GITLAB_CI_LOCAL)
	$(PY) -m pytest tests/test_pipeline.py -p no:cacheprovider -q -m pipeline

tools: $(GITLAB_CI_LOCAL)

$(GITLAB_CI_LOCAL):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error gitlab-ci-local@$(GITLAB_CI_LOCAL_VERSION)
	touch $(GITLAB_CI_LOCAL)

bench: $(STAMP)
	$(PY) bench/preflight_timing.py
	$(PY) bench/migration_dry_run.py
	$(PY) bench/tls_http.py
	$(PY) bench/canary_detect.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/*.sha256 .golive reports/pipeline reports/screenshots
