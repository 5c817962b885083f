# The two commands of the README are `make demo` and `make test`; both start
# with `make setup`, which is idempotent and takes seconds once done.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.sqlml-installed
# Debian packages: the embedded engine, its PL/Python and pg_cron; its server
# headers and a C compiler, for the native column reader that `sqlml deploy`
# builds with PGXS (procedures/postgres/native, `make && make install`); the ODBC
# stack (unixODBC + FreeTDS) that pyodbc needs to reach SQL Server; what the
# prebuilt Babelfish of the `babelfish` tests links against (plus the en_US.UTF-8
# locale, which its FORMAT() switches lc_numeric to); chromium, the headless
# browser the report's test opens it in; for sqlml spark, Java 17 and
# PostgreSQL's JDBC driver (junixsocket: JDBC over the embedded engine's socket);
# what the prebuilt Python language extension of the `langext` tests links against
# (../shared/langext: libpython3.11, libexpat, zlib; its numpy and pandas are .venv's).
APT_PACKAGES := postgresql-15 postgresql-plpython3-15 postgresql-15-cron python3 \
                postgresql-server-dev-15 gcc libc6-dev make \
                unixodbc tdsodbc locales libpython3.11 libexpat1 zlib1g \
                libantlr4-runtime4.9 libossp-uuid16 libicu72 libxml2 libssl3 chromium \
                openjdk-17-jre-headless libpostgresql-jdbc-java libjunixsocket-java libjunixsocket-jni
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help setup system-packages locale demo test lint bench db-start db-stop clean

help:
	@echo "make demo   set up, start the embedded PostgreSQL, deploy, run the demo"
	@echo "make test   set up and run the whole test suite"
	@echo "make setup  system packages and .venv (idempotent)"
	@echo "make lint   ruff + sqlfluff"
	@echo "make bench  performance figures beside their baselines (BENCH_ARGS=... for full sizes)"

setup: system-packages locale $(STAMP)

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "setup: installing system packages:" $$missing; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; \
	    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	    else echo "setup: cannot install $$missing: run 'make setup' as root or give this user sudo" >&2; exit 1; fi; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    $$SUDO apt-get install -y --no-install-recommends $$missing \
	      || { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends $$missing; }; \
	fi

locale: system-packages
	@if ! locale -a 2>/dev/null | grep -qix 'en_US.utf8'; then \
	    echo "setup: generating the en_US.UTF-8 locale"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen \
	      && $$SUDO locale-gen >/dev/null \
	      || echo "setup: could not generate en_US.UTF-8; the babelfish tests need it" >&2; \
	fi

$(STAMP): pyproject.toml python/sqlml/requirements-runtime.txt python/sqlml/requirements-client.txt
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found (Python 3.11 is required)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,spark]"
	touch $@

demo: setup
	$(BIN)/sqlml demo

test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check python tests migrations scripts
	$(BIN)/sqlfluff lint --dialect tsql procedures/mssql sql/mssql sql/portable
	$(BIN)/sqlfluff lint --dialect postgres procedures/postgres sql/postgres sql/portable

# Not part of `make test`: timings on a shared machine; see tests/benchmarks/bench_suite.py.
bench: setup
	$(BIN)/python tests/benchmarks/bench_suite.py $(BENCH_ARGS)

db-start: setup
	$(BIN)/sqlml db start

db-stop: setup
	$(BIN)/sqlml db stop

clean:
	-test -x $(BIN)/sqlml && $(BIN)/sqlml db stop
	rm -rf .sqlml
