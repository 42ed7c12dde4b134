# obs: every target installs what it needs by itself.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup tools demo test lint typecheck pytest pythons bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	bash scripts/build-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Real backends for the tests (PromQL engine, promtool, docker client) unpacked from Debian packages into
# .tools/; PostgreSQL, MariaDB and Redis from the machine's Debian release (the tests start private instances);
# and wrk, the load generator that the bench harness's tests drive.
tools:
	bash scripts/debian-tools.sh
	bash scripts/servers.sh
	bash scripts/bench-deps.sh

lint: setup
	$(BIN)/ruff check .
	$(MAKE) typecheck

# mypy resolves modules from the file system, so it reads the package through a tree of links that mirrors
# the installed layout (obs.agent = agent/, obs.dashboards = dashboards/, obs.collector = collector/).
# The benchmark harness is held to the same strictness: its figures are only as good as its code.
typecheck: setup
	$(PY) scripts/typecheck_tree.py .typecheck
	MYPYPATH=.typecheck $(BIN)/mypy -p obs
	MYPYPATH=.typecheck $(BIN)/mypy --strict bench

# Two processes (most of the suite's time is spent waiting on the servers and apps it starts), a test module
# per process so that its servers start once; then the tests marked serial, alone.
TEST_WORKERS ?= 2
pytest: setup tools
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not serial"
	$(BIN)/pytest -q -m serial

# The other supported Pythons (pyproject.toml's classifiers), each in its own .venv-3.X: the agent's process
# model, logging, exit and `obs init` tests. A missing one fails in CI (CI=true) and is one line locally.
pythons: setup tools
	TEST_WORKERS=$(TEST_WORKERS) $(PY) scripts/pythons.py test

test: lint pytest pythons

demo: setup
	$(PY) examples/demo.py

bench: setup
	bash scripts/bench-deps.sh
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .venv-3.* .bench-venv* .typecheck .tools .obs .mypy_cache .pytest_cache .ruff_cache
