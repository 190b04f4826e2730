# Two entry points for a fresh machine (Python 3.11+ and Java 17): `make demo` and `make test`.
# Each bootstraps its own tools: a small venv holding uv, then the project venv from uv.lock.
PY ?= python3
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

.PHONY: demo test check lint typecheck fmt bench clean services console console-test

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra dev --python $(PY)
	touch $@

# The console (console/, Node.js and npm): installed from its lockfile, built into the package
# when its sources are newer than the build, tested with Vitest.
CONSOLE_SOURCES := $(shell find console/src console/public console/tests -type f 2>/dev/null) console/index.html \
	console/openapi.json console/vite.config.ts console/tsconfig.json console/package.json
CONSOLE_BUILD := soc_api/webapi/static/index.html

console/node_modules/.package-lock.json: console/package-lock.json
	cd console && npm ci --no-audit --no-fund

$(CONSOLE_BUILD): console/node_modules/.package-lock.json $(CONSOLE_SOURCES)
	cd console && npm run build

console: $(CONSOLE_BUILD)

console-test: console/node_modules/.package-lock.json
	cd console && npm test

demo: $(VENV)/.synced $(CONSOLE_BUILD)
	$(VENV)/bin/datasoc demo

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.synced
	$(VENV)/bin/mypy

check: lint typecheck
	$(VENV)/bin/lint-imports

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: check $(CONSOLE_BUILD) console-test
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

fmt: $(VENV)/.synced
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache console/node_modules soc_api/webapi/static

# The real servers of the scale-out tests (OpenSearch, Elasticsearch, Kafka) for local use: fetched
# from Maven Central into ~/.m2, started on their usual loopback ports, stopped on Ctrl-C.
services: $(VENV)/.synced
	$(VENV)/bin/python -m services up
