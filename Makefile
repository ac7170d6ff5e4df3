# cachediag: `make run` and `make test` are the whole quick start on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Where `make run` looks for local caches (override: make run REDIS=redis://127.0.0.1:6380).
REDIS     ?= redis://127.0.0.1:6379
MEMCACHED ?= 127.0.0.1:11211

.PHONY: run demo man test lint servers venv clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The tests start real redis-server and memcached processes (and build a Redis Cluster with
# redis-cli, from redis-tools, a dependency of redis-server); install them when missing.
servers:
	@if ! command -v redis-server >/dev/null || ! command -v memcached >/dev/null \
	    || ! command -v redis-cli >/dev/null || ! command -v openssl >/dev/null; then \
	  echo "installing redis-server, memcached and openssl from the OS packages"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq redis-server memcached openssl >/dev/null; \
	fi

# Checks the local caches when one answers at REDIS or MEMCACHED; with nothing there
# (a fresh machine), says so and runs `cachediag demo` instead.
run: venv
	@$(PY) -m cachediag.demo.make_run '$(REDIS)' '$(MEMCACHED)'

# cachediag(1), generated from the CLI's own commands and help: man -l build/man/cachediag.1
man: venv
	@mkdir -p build/man
	$(VENV)/bin/cachediag --man > build/man/cachediag.1
	@echo "wrote build/man/cachediag.1 (read it with: man -l build/man/cachediag.1)"

# Throwaway redis-server and memcached seeded with the guide's issues, checked, stopped.
demo: venv
	$(VENV)/bin/cachediag demo

test: servers venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check cachediag tests benchmarks
	$(VENV)/bin/ruff format --check cachediag tests benchmarks
	$(VENV)/bin/mypy cachediag

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
