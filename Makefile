# qprof developer entry points. `make demo` and `make test` work from a fresh clone:
# they build .venv from pyproject.toml and (for tests) install the PostgreSQL prerequisites.

PYTHON      ?= python3
VENV        := .venv
VENV_PY     := $(VENV)/bin/python
PYTEST_ARGS ?= -ra
PIP_FLAGS   := --quiet --disable-pip-version-check --no-input

.DEFAULT_GOAL := help
.PHONY: help venv .venv demo test bench lint docs clean

help:
	@echo "make demo    run 'qprof demo' against the sample databases"
	@echo "make test    install PostgreSQL prerequisites if needed, run pytest (PYTEST_ARGS='$(PYTEST_ARGS)')"
	@echo "make bench   run bench/*.py and print their figures"
	@echo "make lint    ruff check . and ruff format --check . (configured in pyproject.toml)"
	@echo "make docs    regenerate docs/commands and docs/rules from the code, then build the site"
	@echo "make clean   remove .venv, build artefacts and caches"

# The venv is rebuilt from scratch whenever pyproject.toml changes, so a stale dependency set
# never survives. A failed install removes the half-built venv: otherwise its fresh
# bin/python would look up to date and the next make would skip the install.
$(VENV_PY): pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV) || { echo "venv creation failed (Debian system python: apt-get install python3-venv)"; rm -rf $(VENV); exit 1; }
	$(VENV_PY) -m pip install $(PIP_FLAGS) -e '.[test]' || { rm -rf $(VENV); exit 1; }
	touch $(VENV_PY)

venv .venv: $(VENV_PY)

demo: $(VENV_PY)
	$(VENV)/bin/qprof demo

# ensure-prereqs.sh prints the PostgreSQL bin dir it checked; pass it on so the test
# clusters use exactly that server. `&&` keeps a prerequisite failure fatal.
test: $(VENV_PY)
	@bindir="$$(scripts/ensure-prereqs.sh)" && \
	  echo "QPROF_PG_BINDIR=$$bindir" && \
	  QPROF_PG_BINDIR="$$bindir" $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(VENV_PY)
	@set -e; found=0; \
	for f in bench/*.py; do \
	  [ -e "$$f" ] || continue; found=1; \
	  echo "== $$f"; $(VENV_PY) "$$f"; \
	done; \
	[ $$found -eq 1 ] || echo "no bench/*.py scripts"

# ruff comes with the test extra; without it lint fails rather than passing on a weaker check.
lint: $(VENV_PY)
	@$(VENV_PY) -m ruff --version >/dev/null 2>&1 || { echo "ruff is not installed in $(VENV) (pip install -e '.[test]')" >&2; exit 1; }
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .

# The command and rule pages are generated (tests/test_docs.py fails when they are stale).
docs: $(VENV_PY)
	$(VENV_PY) scripts/gen_docs.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) build dist site .pytest_cache .ruff_cache .mypy_cache .coverage htmlcov
	find . -path ./.git -prune -o \( -name '*.egg-info' -o -name __pycache__ \) -prune -exec rm -rf {} +
