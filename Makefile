# The two commands: `make demo` and `make test`. Each bootstraps .venv on its own.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROJECT_FILES := pyproject.toml semconv/pyproject.toml pricing/pyproject.toml instrumentation/pyproject.toml redaction/pyproject.toml \
                 collector/pyproject.toml dashboard/pyproject.toml

# `make demo DEMO_PORTS=14317,14318,18501` (OTLP gRPC, OTLP HTTP, dashboard); also read from the
# environment. DEMO_HOST=0.0.0.0 exposes the dashboard beyond this machine (default 127.0.0.1).
DEMO_PORTS ?=
DEMO_HOST ?=

.PHONY: demo demo-ports test lint venv clean bench

venv: $(STAMP)

$(STAMP): $(PROJECT_FILES)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Glassline needs Python 3.11+"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[make] installing Glassline and its dependencies into $(VENV) (a few minutes the first time)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e ./semconv -e ./pricing -e ./instrumentation -e './redaction[ner]' -e ./collector -e ./dashboard -e '.[dev]'
	@# pip compiles the dependencies' bytecode, not the editable packages': where
	@# PYTHONDONTWRITEBYTECODE is set, every collector start would compile ours (docs/collector.md#start-up).
	$(PY) -m compileall -q semconv/src pricing/src instrumentation/src redaction/src collector/src dashboard/src
	@touch $(STAMP)

# The port check runs with the system Python before installing or starting anything.
demo-ports:
	@$(PYTHON) examples/ports.py "$(DEMO_PORTS)"

demo: demo-ports $(STAMP)
	exec $(PY) -m examples.demo $(if $(DEMO_PORTS),--ports $(DEMO_PORTS)) $(if $(DEMO_HOST),--dashboard-host $(DEMO_HOST))

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy semconv/src/glassline/semconv pricing/src/glassline/pricing instrumentation/src/glassline/instrumentation redaction/src/glassline/redaction collector/src/glassline/collector dashboard/src/glassline/dashboard

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .glassline .pytest_cache .mypy_cache .ruff_cache
