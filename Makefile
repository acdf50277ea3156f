# golive: `make demo` runs the whole go-live against the built-in sandbox; `make test` runs the project's tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.golive-installed
WORKERS ?= 2

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/golive demo

test: $(STAMP)
	$(PY) -m pytest tests -p no:cacheprovider -n $(WORKERS) --dist loadfile -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) bench/preflight_timing.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/*.sha256 .golive
