# Two commands that work on a fresh machine:
#   make demo   set up, start `touchpoint serve` on the embedded engine and play demo traffic into it
#   make test   set up and run the test suite (installs Debian's chromium for the browser tests when root)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup setup-test browser bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed
setup-test: $(VENV)/.installed-test

demo: setup
	bash scripts/demo.sh

browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: browser tests are skipped without /usr/bin/chromium (sudo apt-get install chromium chromium-driver)"; fi; \
	fi

test: setup-test browser
	$(PY) -m pytest -q

bench: setup-test
	$(PY) -m bench.ingest
	$(PY) -m bench.blueprint_state

lint: setup-test
	$(VENV)/bin/ruff check app collectors blueprints alerts tests bench

clean:
	rm -rf $(VENV) .touchpoint
