# o2o: `make run` starts the platform, `make test` runs the whole suite.
# Everything installs into ./.venv from the lock file (uv.lock); the only prerequisite is Python 3.11.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install lint migration-initial i18n-extract i18n-compile clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed ## create .venv from the lock file

run: install ## start the platform at http://127.0.0.1:8000 (SQLite under ./var, demo city on first start)
	$(VENV)/bin/o2o serve

test: install ## the whole suite, on SQLite and on PostgreSQL (when reachable), browser tests included
	$(VENV)/bin/python -m tests.browser_setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

migration-initial: install ## regenerate the initial migration from the models (only before the first release)
	rm -f src/o2o/migrations/versions/0001_*.py var/migration-scratch.db
	O2O_DATABASE_URL=sqlite:///var/migration-scratch.db $(VENV)/bin/alembic -c alembic.ini revision --autogenerate --rev-id 0001 -m "foundation"
	rm -f var/migration-scratch.db

i18n-extract: install ## collect translatable text into src/o2o/locale/o2o.pot and update the catalogues
	$(VENV)/bin/pybabel extract -F babel.cfg -k _ -k N_ -k gettext -k ngettext:1,2 -o src/o2o/locale/o2o.pot src
	for po in src/o2o/locale/*/LC_MESSAGES/o2o.po; do [ -e "$$po" ] && $(VENV)/bin/pybabel update -D o2o -i src/o2o/locale/o2o.pot -d src/o2o/locale -l $$(basename $$(dirname $$(dirname $$po))); done; true

i18n-compile: install ## compile the .po catalogues to .mo (the server reads these)
	$(VENV)/bin/pybabel compile -D o2o -d src/o2o/locale --statistics || true

clean:
	rm -rf $(VENV) $(TOOLS) var
