# The course's two commands (README.md):
#   make lab    prepare the environment and open the course in JupyterLab
#   make test   prepare the environment and run every check: the linter, unit tests, the browser test, then every
#               notebook under nbval
# Both create .venv on the first run (a few minutes) and reuse it afterwards.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
REQUIREMENTS := requirements-build.txt requirements.txt requirements-lightfm.txt pyproject.toml
PORT ?= 8888

.PHONY: lab test lint unit quick browser notebooks env clean-env

env: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if v == (3, 11) else "The course needs Python 3.11; $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.11 ..." % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-build.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation -r requirements-lightfm.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps -e .
	touch $(STAMP)

lab: env
	$(BIN)/python -m course_utils.lab --port=$(PORT)

test: lint unit browser notebooks

lint: env
	$(BIN)/ruff check .

unit: env
	$(BIN)/python -m pytest tests --ignore=tests/browser

quick: env
	$(BIN)/python -m pytest tests --ignore=tests/browser -m "not slow"

browser: env
	$(BIN)/python -m pytest tests/browser

notebooks: env
	COURSE_UTILS_PROGRESS=$(CURDIR)/$(VENV)/nbval-progress.json $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider notebooks

clean-env:
	rm -rf $(VENV)
