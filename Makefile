# Two commands on a fresh machine: `make run` and `make test`. Both bootstrap first.
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv

.PHONY: bootstrap run test bench eval-ai lint clean messages

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

# The AI layer on its Turkish evaluation set (bench/ai_eval); writes bench/results/ai_*.json.
eval-ai: bootstrap
	$(VENV)/bin/python -m bench.ai_eval.run

lint: bootstrap
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) node_modules

# After changing UI text: collect the strings (code, templates, service error messages) and merge
# them into each language's catalogue (src/invekto/core/catalogue.py). Translate the new Turkish
# entries; the test suite fails while any is missing.
messages: bootstrap
	$(VENV)/bin/python -m invekto.core.catalogue
