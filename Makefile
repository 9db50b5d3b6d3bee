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

# The browser tests drive Debian's Chromium (never a downloaded browser); CJK fonts so that pages
# and screenshots show Chinese. Installed with apt-get when missing (CI runs as root).
BROWSER := /usr/bin/chromium
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

$(BROWSER) $(CJK_FONT):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk; \
	else \
	  echo "install Debian's chromium and fonts-noto-cjk (as root: apt-get install chromium fonts-noto-cjk)"; \
	fi

# `riskmodel bench api` drives both servers with wrk (Debian's package) when it is there.
WRK := /usr/bin/wrk

$(WRK):
	@if [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; \
	else \
	  echo "install Debian's wrk for bench api (as root: apt-get install wrk)"; \
	fi

install: $(STAMP) $(BROWSER) $(CJK_FONT) $(WRK)

run: $(STAMP)
	$(BIN)/riskmodel simulate --out data/county --seed 7 --report
	$(BIN)/riskmodel train --data data/county
	$(BIN)/riskmodel promote
	$(BIN)/riskmodel train --label persistent --data data/county
	-$(BIN)/riskmodel promote --label persistent   # refused: monitored households get no probability
	$(BIN)/riskmodel score --data data/county --out data/scores
	$(BIN)/riskmodel serve --host 127.0.0.1 --port 8000 --dev-key

test: install
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests training serving
	$(BIN)/ruff format --check src tests training serving

clean:
	rm -rf $(VENV) data/county mlflow.db mlartifacts
