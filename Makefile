# The two commands: `make demo` and `make test`. Each bootstraps .venv on its own.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROJECT_FILES := pyproject.toml semconv/pyproject.toml pricing/pyproject.toml instrumentation/pyproject.toml redaction/pyproject.toml \
                 collector/pyproject.toml dashboard/pyproject.toml

.PHONY: demo test lint venv clean bench

venv: $(STAMP)

$(STAMP): $(PROJECT_FILES)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Glassline needs Python 3.11+"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./semconv -e ./pricing -e ./instrumentation -e './redaction[ner]' -e ./collector -e ./dashboard -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m examples.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy semconv/src/glassline/semconv pricing/src/glassline/pricing instrumentation/src/glassline/instrumentation redaction/src/glassline/redaction

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .glassline .pytest_cache .mypy_cache .ruff_cache
