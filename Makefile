# `make run` and `make test` work from a fresh clone: they create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test test-fast bench bench-abuse lint chromium fonts postgresql screenshots clean

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# The interface's translations: locale/*.po (committed) compiled to .mo (build output, pure Python).
install: $(STAMP)
	$(PY) manage.py compilemessages -v 0

chromium:
	@test -x /usr/bin/chromium || { echo "Installing Chromium for the browser tests (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The OCR tests draw Chinese text; without a CJK font Pillow draws boxes.
fonts:
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { echo "Installing a CJK font for the OCR tests (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }

# The PostgreSQL pass runs on a throwaway server (tests/postgres_server.py) from Debian's binaries.
postgresql:
	@[ -n "$$TEST_DATABASE_URL" ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || \
	  { echo "Installing PostgreSQL for the tests (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

run: install
	$(PY) -m launcher.run

# Two passes at once, both must pass: every test on SQLite, and every database test again on a
# throwaway PostgreSQL (or on TEST_DATABASE_URL when set), so both keyword indexes and both
# migration paths run each time. The PostgreSQL pass's output is printed after the SQLite pass's.
PG_LOG := .test-data/postgresql-pass.log
PG_PASS := --database-tests-only --expect-database=postgresql -p no:cacheprovider

test: install chromium fonts postgresql
	$(VENV)/bin/lint-imports
	@mkdir -p .test-data; echo "PostgreSQL pass started beside the SQLite pass; its output: $(PG_LOG)"; \
	$(PY) -m tests.postgres_server $(PY) -m pytest $(PG_PASS) >$(PG_LOG) 2>&1 & pg=$$!; \
	env -u TEST_DATABASE_URL $(PY) -m pytest --expect-database=sqlite; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo; echo "======== PostgreSQL pass ($(PG_LOG)) ========"; cat $(PG_LOG); \
	[ $$sqlite = 0 ] || echo "make test: the SQLite pass failed (exit $$sqlite)"; \
	[ $$postgres = 0 ] || echo "make test: the PostgreSQL pass failed (exit $$postgres)"; \
	[ $$sqlite = 0 ] && [ $$postgres = 0 ]

test-fast: install
	$(PY) -m pytest -m "not integration and not browser"

# docs/screenshots/: desktop, phone (390 px) and dark, from a small library the real workers index.
screenshots: install chromium fonts
	$(PY) -m pytest tests/browser/shoot_screenshots.py -q

bench: install
	CLIP_MODEL=$${CLIP_MODEL:-demo} $(PY) manage.py bench

# The audit's memory attack (8 anonymous clients posting a 10000x10000 image) against a real stack.
bench-abuse: install
	CLIP_MODEL=$${CLIP_MODEL:-demo} $(PY) manage.py bench_abuse

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .test-data .pytest_cache .ruff_cache
