# The commands a developer runs are the commands CI runs (.ci/run calls `make test`).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CODE := src tests examples benchmarks

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(MAKE) $(AZURITE)
	touch $@ $(VENV)/.installed

# Azurite, the Azure Blob emulator tests/test_cloud.py starts on loopback, from npm into .node/.
# Without npm the Azure tests are skipped, saying why.
AZURITE := .node/node_modules/.bin/azurite-blob
$(AZURITE):
	@if command -v npm >/dev/null; then \
		npm install --prefix .node --no-audit --no-fund --loglevel=error azurite@3 \
			|| echo "Azurite could not be installed: the Azure Blob tests will be skipped (failed under CI=true)"; \
	else echo "npm not found: the Azure Blob tests will be skipped"; fi

## make demo: install gristmill, build the sample corpus, extract its documents, show what failed
demo: $(VENV)/.installed
	$(BIN)/python examples/corpus/make_corpus.py
	$(BIN)/gristmill extract examples/corpus/files --output extract-output --state .gristmill/extract-demo --max-file-size 1MB; test $$? -le 1
	$(BIN)/gristmill failures --state .gristmill/extract-demo

## make test: install the dev dependencies, lint, type-check and run the whole test suite
test: lint
	@# byte-compiled once here: where PYTHONDONTWRITEBYTECODE is set (CI machines, containers),
	@# every command the tests start would otherwise compile gristmill's modules again
	$(BIN)/python -m compileall -q src
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

## make bench: compare gristmill's pool with multiprocessing, concurrent.futures and mpire,
## and its OpenSearch bulk indexing with opensearch-py's helpers.bulk
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/bulk.py

clean:
	rm -rf .gristmill .node demo-output extract-output examples-output examples/demo/corpus examples/corpus/files
