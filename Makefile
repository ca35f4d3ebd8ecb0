# marsad: `make run` for one ingest pass, `make test` for the test suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test demo lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# the machine's pip may be too old to resolve trafilatura's lxml_html_clean: upgrade it first
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/marsad run

demo: $(STAMP)
	$(BIN)/marsad demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check flows extractors warehouse tests bench
	$(BIN)/ruff format --check flows extractors warehouse tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix flows extractors warehouse tests bench
	$(BIN)/ruff format flows extractors warehouse tests bench

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data/demo.duckdb data/demo.toml .pytest_cache
