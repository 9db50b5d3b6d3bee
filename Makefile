# Two commands on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/riskmodel simulate --out data/county --seed 7 --report
	$(BIN)/riskmodel train --data data/county
	$(BIN)/riskmodel promote
	$(BIN)/riskmodel train --label persistent --data data/county
	-$(BIN)/riskmodel promote --label persistent   # refused: monitored households get no probability
	$(BIN)/riskmodel score --data data/county --out data/scores
	$(BIN)/riskmodel serve --host 127.0.0.1 --port 8000 --dev-key

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests training serving
	$(BIN)/ruff format --check src tests training serving

clean:
	rm -rf $(VENV) data/county mlflow.db mlartifacts
