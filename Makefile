# The README's commands. Every target installs what it needs first, so a fresh clone works.
SHELL := /bin/bash
.DEFAULT_GOAL := help
# A failed book build must not leave an index.html that looks up to date.
.DELETE_ON_ERROR:

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SEEDS ?= 10000
CYCLES ?= 100

BOOK_SOURCES := _config.yml _toc.yml $(shell find book raftlib -type f \( -name '*.ipynb' -o -name '*.md' -o -name '*.py' -o -name '*.js' -o -name '*.css' \) 2>/dev/null)

.PHONY: help book book-deps test lab notebooks lint fuzz mutate bench soak system-deps clean

help:
	@echo "make book       execute every chapter and build the HTML book in _build/html"
	@echo "make test       lint, type-check, build the book, run every test (installs what it needs)"
	@echo "make lab        open the chapters in JupyterLab, live widgets included"
	@echo "make notebooks  re-execute the chapters in place, refreshing their stored outputs"
	@echo "make fuzz       run SEEDS=$(SEEDS) random fault schedules through the safety checkers"
	@echo "make mutate     plant single-point bugs in a copy of the core; print what catches them"
	@echo "make bench      run the benchmarks in bench/ and print their figures"
	@echo "make soak       CYCLES=$(CYCLES) faults on a real raftlib cluster under a client, then a count"

$(BIN)/activate:
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  echo "error: $(PYTHON) cannot create a virtual environment; install Debian's python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

_build/html/index.html: $(BOOK_SOURCES) $(VENV)/.installed
	rm -rf _build/html _build/.doctrees _build/jupyter_execute
	$(BIN)/jupyter-book build . --all -W --keep-going
	touch $@

# Live mode (the book's raftlib run in the reader's browser by Pyodide) needs the npm package
# pyodide, pinned in package-lock.json; `npm ci` reinstalls it whenever the lock file changes.
node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo "error: npm is missing: the book vendors Pyodide from npm for live mode;" \
	       "install Debian's nodejs and npm (make system-deps does, as root)" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

# Pyodide, the raftlib archive and the worker, copied after the build into the site's _static;
# no page loads them until a reader asks for live mode.
LIVE := _build/html/_static/live
$(LIVE)/manifest.json: _build/html/index.html node_modules/.installed scripts/build_live.py \
		$(filter raftlib/%,$(BOOK_SOURCES))
	$(BIN)/python scripts/build_live.py _build/html/_static

book: book-deps node_modules/.installed _build/html/index.html $(LIVE)/manifest.json
	@echo "book: open _build/html/index.html"

# etcd for the chapter that reruns experiments on real etcd (installed as root).
book-deps:
	bash scripts/system-deps.sh book

system-deps:
	bash scripts/system-deps.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check raftlib tests bench book scripts
	$(BIN)/mypy

test: system-deps lint book
	$(BIN)/pytest

notebooks: $(VENV)/.installed
	$(BIN)/python -m tests.book.notebooks

lab: $(VENV)/.installed
	$(BIN)/jupyter trust book/*.ipynb
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) book/

fuzz: $(VENV)/.installed
	$(BIN)/python -m raftlib.sim.explore --seeds $(SEEDS)

mutate: $(VENV)/.installed
	$(BIN)/python scripts/mutate.py

soak: $(VENV)/.installed
	$(BIN)/python scripts/soak.py --cycles $(CYCLES)

bench: $(VENV)/.installed node_modules/.installed
	@rm -f _build/bench/results.json
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
	@$(BIN)/python bench/_results.py

clean:
	rm -rf _build .jupyter_cache
