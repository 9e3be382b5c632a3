# `make run` and `make test` work from a fresh clone: they create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install run test test-fast bench bench-abuse lint chromium fonts screenshots clean

$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

chromium:
	@test -x /usr/bin/chromium || { echo "Installing Chromium for the browser tests (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The OCR tests draw Chinese text; without a CJK font Pillow draws boxes.
fonts:
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || { echo "Installing a CJK font for the OCR tests (apt)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null; }

run: install
	$(PY) -m launcher.run

test: install chromium fonts
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

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
