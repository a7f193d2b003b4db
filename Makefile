# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap first.
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv

.PHONY: bootstrap run test bench lint clean messages

bootstrap: $(VENV)/.synced node_modules/.installed

# uv installs exactly what uv.lock pins; --inexact leaves pip and uv itself in the venv.
$(VENV)/.synced: pyproject.toml uv.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) sync --frozen --inexact --quiet
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: bootstrap
	$(VENV)/bin/invekto run

test: bootstrap
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest

bench: bootstrap
	$(VENV)/bin/python -m bench

lint: bootstrap
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) node_modules

# After changing UI text: collect the strings (code, templates, service error messages) into the
# template and merge it into each language's catalogue. Translate the new Turkish entries.
MESSAGE_KEYWORDS := -k text:2 -k plural:2,3 -k _ -k AppError -k NotFound -k ValidationFailed \
	-k Conflict -k PermissionDenied -k Unauthenticated -k TooManyRequests
messages: bootstrap
	$(VENV)/bin/pybabel extract -F babel.cfg $(MESSAGE_KEYWORDS) --no-location --sort-output \
		--omit-header -o src/invekto/locale/messages.pot src
	for lang in tr en; do \
		test -f src/invekto/locale/$$lang/LC_MESSAGES/messages.po || \
			$(VENV)/bin/pybabel init -i src/invekto/locale/messages.pot -d src/invekto/locale -l $$lang; \
		$(VENV)/bin/pybabel update -i src/invekto/locale/messages.pot -d src/invekto/locale -l $$lang \
			--no-fuzzy-matching --ignore-obsolete; \
	done
