# cachediag: `make run` and `make test` are the whole quick start on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint servers venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The tests start real redis-server and memcached processes; install them when missing.
servers:
	@if ! command -v redis-server >/dev/null || ! command -v memcached >/dev/null \
	    || ! command -v openssl >/dev/null; then \
	  echo "installing redis-server, memcached and openssl from the OS packages"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server memcached openssl >/dev/null; \
	fi

run: venv
	$(VENV)/bin/cachediag check

test: servers venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check cachediag tests benchmarks
	$(VENV)/bin/ruff format --check cachediag tests benchmarks
	$(VENV)/bin/mypy cachediag

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
