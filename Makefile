# The course's two commands (README.md):
#   make lab    prepare the environment and open the course in JupyterLab
#   make test   prepare the environment and run every check: the linter, unit tests, the browser test, then every
#               notebook under nbval
# Both create .venv on the first run (a few minutes) and reuse it afterwards. Another Python: make lab PYTHON=python3.13
# (its own environment, .venv-3.13); make doctor says what is missing or wrong in an environment.

# the first of python3.11, python3.12, python3.13 that runs (a pyenv shim of a version not selected does not)
PYTHON := $(or $(PYTHON),$(shell for p in python3.11 python3.12 python3.13 python3; do $$p -c '' 2>/dev/null && { command -v $$p; break; }; done))
# the Python's version (3.11, 3.12, 3.13) picks the environment: .venv for 3.11, .venv-3.12 and .venv-3.13 otherwise
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYVER),)
ifneq ($(MAKECMDGOALS),clean-env)
$(error "$(PYTHON)" does not run. Install Python 3.11, 3.12 or 3.13 and run: make PYTHON=/path/to/python3.12 ...)
endif
endif
VENV ?= $(if $(filter 3.11,$(PYVER)),.venv,.venv-$(PYVER))
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
REQUIREMENTS := requirements.txt pyproject.toml
PORT ?= 8888

.PHONY: lab test lint unit quick browser notebooks smoke doctor setup-cells env clean-env

env: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 13) else "The course needs Python 3.11, 3.12 or 3.13; $(PYTHON) is %d.%d. Run: make PYTHON=/path/to/python3.12 ..." % v)'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# an environment made before rectools-lightfm holds lightfm's own 1.17: the same files, so it goes first
	$(BIN)/python -m pip uninstall --quiet --disable-pip-version-check -y lightfm 2>/dev/null || true
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

lab: env
	@$(BIN)/python -m course_utils.doctor --problems-only || true
	$(BIN)/python -m course_utils.lab --port=$(PORT)

doctor: env
	$(BIN)/python -m course_utils.doctor

# every notebook's first cell (installs the course on Colab) and its Colab badge, from [tool.course] source
setup-cells: env
	$(BIN)/python -m course_utils.setup_cell

test: lint unit browser notebooks

lint: env
	$(BIN)/ruff check .

unit: env
	$(BIN)/python -m pytest tests --ignore=tests/browser

quick: env
	$(BIN)/python -m pytest tests --ignore=tests/browser -m "not slow"

# another Python's check (CI: PYTHON=python3.13): the fast unit tests and the quick-start notebook
smoke: env
	$(BIN)/python -m pytest tests --ignore=tests/browser -m "not slow" -p no:cacheprovider -q
	$(BIN)/python -m pytest tests/test_frameworks.py -p no:cacheprovider -q
	COURSE_UTILS_PROGRESS=$(CURDIR)/$(VENV)/nbval-progress.json $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider notebooks/00_quickstart.ipynb

browser: env
	$(BIN)/python -m pytest tests/browser

# NOTEBOOK_JOBS notebooks at a time, each whole in its own kernel (--dist loadfile), each kernel on one thread: on the
# 2-core machine two side by side on one thread each took 664 s, one after the other on two threads 1,045 s, and two
# kernels of two threads each crawled (benchmarks/logs/ci/notebooks-parallel.md)
NOTEBOOK_JOBS ?= 2
notebooks: env
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 COURSE_UTILS_PROGRESS=$(CURDIR)/$(VENV)/nbval-progress.json $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider -n $(NOTEBOOK_JOBS) --dist loadfile notebooks

clean-env:
	rm -rf $(VENV)
