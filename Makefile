# The two commands a newcomer runs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test lint venv

# The virtual environment is rebuilt when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# The browser tests' accessibility checker (axe-core), pinned in package.json and its lock; `npm ci`
# installs exactly the locked version, with its integrity hash checked.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The site and its background worker in one command; stopping `make run` (Ctrl+C) stops both.
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_demo_data --if-empty
	$(PY) manage.py run_huey & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: venv node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run
