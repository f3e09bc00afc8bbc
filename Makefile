# drs.orchestration -- developer entry points. `make help` lists the targets.
#
# Every target bootstraps what it needs (the .venv, the collection links, the
# ansible-test pip stand-in) and does nothing more when that is already done.
# DEVELOPERS.md explains each stage.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
# Stages print to one terminal: keep them in order even under `make -j`.
.NOTPARALLEL:
MAKEFLAGS += --no-builtin-rules --no-print-directory

# An explicit interpreter for the venv, e.g. `make PYTHON=/opt/python3.13/bin/python3 venv`.
PYTHON ?=
export PYTHON

VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
PY := $(BIN)/python
VENV_STAMP := $(VENV)/.stamp-dev
REQUIREMENTS := $(wildcard requirements/*.txt)

# Tools run from the venv; playbooks and molecule find our collection through the
# link in build/collections (amazon.aws comes from the venv's site-packages).
export PATH := $(BIN):$(PATH)
COLLECTIONS_PATH := $(CURDIR)/build/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS_PATH)
COLLECTION_LINK := $(COLLECTIONS_PATH)/ansible_collections/drs/orchestration

# Some machine images set PYTHONDONTWRITEBYTECODE: then every Python process (each
# pytest worker, each emulator, pytest's assertion rewriting) compiles this repo's
# sources again, which cost about a minute of CPU per `make test`. The caches go to
# __pycache__ (ignored by git and by the collection build).
unexport PYTHONDONTWRITEBYTECODE

# ansible-test works on a real copy of the built collection (what ships, nothing
# from build_ignore), with amazon.aws copied beside it.
DIST_DIR := build/dist
SANITY_ROOT := $(CURDIR)/build/ansible_collections
SANITY_COPY := $(SANITY_ROOT)/drs/orchestration
SANITY_AWS := $(SANITY_ROOT)/amazon/aws
SANITY_PYTHON := 3.13
SANITY_PYTHON_OLDEST := 3.12
SANITY_LOG := build/sanity.log
# Two workers: within `make test` four other lanes share the two cores, and a third
# worker cost more CPU (its own collection, more contention) than its waits saved
# (4 min 26 s against 4 min 54 s in back-to-back runs).
PYTEST_WORKERS ?= 2
# Without ANSIBLE_COLLECTIONS_PATH, which points at the working tree: only the copy counts.
ANSIBLE_TEST := env -u ANSIBLE_COLLECTIONS_PATH ansible-test sanity --venv --color no

# pytest covers the collection's tests, the emulator's and the Pulumi program's;
# only paths that exist are passed.
PYTEST_PATHS := $(wildcard tests emulator/tests pulumi/tests)
# molecule 26, run from a collection root, takes every extensions/molecule/**/molecule.yml.
MOLECULE_SCENARIOS := $(shell find extensions/molecule -name molecule.yml 2>/dev/null)
# make test runs the scenarios in two lanes of about equal length: lane 1 names its
# scenarios, lane 2 takes every other one (so a new scenario always runs).
MOLECULE_NAMES := $(sort $(notdir $(patsubst %/molecule.yml,%,$(MOLECULE_SCENARIOS))))
MOLECULE_LANE_1 := lifecycle agent_install
MOLECULE_LANE_2 := $(filter-out $(MOLECULE_LANE_1),$(MOLECULE_NAMES))

stage = @printf '\n==> %s\n' "$(1)"

.PHONY: help
help:  ## List the targets
	@grep -hE '^[a-z][a-z -]*:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# --- environment -----------------------------------------------------------------

.PHONY: venv
venv: $(VENV_STAMP) collection-link  ## Create .venv (Python >= 3.12) with requirements/dev.txt

# Rebuilt when a requirements file changes. A venv on a wrong or missing
# interpreter is recreated from scratch.
$(VENV_STAMP): $(REQUIREMENTS)
	$(call stage,venv: $(VENV) from requirements/dev.txt)
	@if ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		interpreter="$$(tools/find-python)"; \
		echo "creating $(VENV) with $$interpreter"; \
		rm -rf $(VENV); \
		"$$interpreter" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $@

.PHONY: collection-link
collection-link: $(COLLECTION_LINK)  ## Link build/collections/.../drs/orchestration to this repo

$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn $(CURDIR) $@

# Debian packages the tests need: Chromium for tests/browser (driven by Playwright;
# never `playwright install`). Installed with apt-get when missing and running as
# root (CI does); otherwise make says what to install.
SYSTEM_PACKAGES := chromium

.PHONY: system-deps
system-deps:  ## Install missing Debian packages the tests need (as root)
	@missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then \
			echo "missing system packages:$$missing (install them, e.g. sudo apt-get install -y$$missing)" >&2; exit 1; \
		fi; \
		printf '\n==> apt-get install%s\n' "$$missing"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

.PHONY: lock
lock: $(VENV_STAMP)  ## Re-pin requirements/constraints.txt from the venv (after editing dev.txt)
	@{ echo "# Every package in the dev venv, pinned: keeps transitive dependencies from drifting."; \
	   echo "# Generated by \`make lock\` (pip freeze of a venv built from dev.txt); do not edit by hand."; \
	   $(PY) -m pip freeze --all --exclude pip; } > requirements/constraints.txt
	@echo "wrote requirements/constraints.txt"

# --- lint ------------------------------------------------------------------------

.PHONY: lint
lint: $(VENV_STAMP) collection-link  ## ruff, yamllint, ansible-lint (production), antsibull-changelog lint
	$(call stage,ruff check)
	ruff check .
	$(call stage,ruff format --check)
	ruff format --check .
	$(call stage,yamllint)
	yamllint --strict .
	$(call stage,ansible-lint --profile production)
	ansible-lint
	$(call stage,antsibull-changelog lint)
	antsibull-changelog lint

# --- ansible-test sanity ---------------------------------------------------------

.PHONY: build
build: $(VENV_STAMP)  ## Build the collection tarball into build/dist/ and check its content
	$(call stage,ansible-galaxy collection build)
	@rm -rf $(DIST_DIR)
	ansible-galaxy collection build --output-path $(DIST_DIR) .
	$(PY) tools/check_collection_tarball.py $(DIST_DIR)/drs-orchestration-*.tar.gz

# The copy is refreshed from the tarball on every run. Its tests/output is kept:
# it holds the virtualenvs ansible-test delegates to (saves ~20 s per run).
# ansible-test lists a collection's files with git when it finds a .git in the
# collection or any parent, and this repo's .gitignore hides build/: so the copy
# gets a git repo of its own (files stay untracked; ansible-test lists those too).
.PHONY: sanity-tree
sanity-tree: build
	@rm -rf build/sanity-output
	@if [ -d $(SANITY_COPY)/tests/output ]; then mv $(SANITY_COPY)/tests/output build/sanity-output; fi
	@rm -rf $(SANITY_COPY)
	@mkdir -p $(SANITY_COPY)
	@tar -xzf $(DIST_DIR)/drs-orchestration-*.tar.gz -C $(SANITY_COPY)
	@git -C $(SANITY_COPY) init --quiet
	@printf '/tests/output/\n__pycache__/\n' > $(SANITY_COPY)/.git/info/exclude
	@if [ -d build/sanity-output ]; then mkdir -p $(SANITY_COPY)/tests; mv build/sanity-output $(SANITY_COPY)/tests/output; fi
	@aws_src="$$($(PY) -c 'import ansible_collections.amazon.aws as m; print(list(m.__path__)[0])')"; \
	if ! cmp -s "$$aws_src/MANIFEST.json" $(SANITY_AWS)/MANIFEST.json; then \
		rm -rf $(SANITY_AWS); mkdir -p $(dir $(SANITY_AWS)); \
		cp -a "$$aws_src" $(SANITY_AWS); \
	fi
	@$(PY) tools/install_get_pip_standin.py

# Every sanity test runs on the venv's Python. compile and import run again on the
# oldest controller Python (tests/config.yml: our modules run on the controller),
# so plugins/ cannot start depending on 3.13. ansible-test exits 0 when it skips a
# test (missing interpreter or tool) or finds no files at all, so the log is
# checked for both.
.PHONY: sanity
sanity: sanity-tree  ## ansible-test sanity (all tests) on a copy of the built collection
	$(call stage,ansible-test sanity --venv --python $(SANITY_PYTHON): all tests)
	@mkdir -p $(dir $(SANITY_LOG)) build/pythons
	cd $(SANITY_COPY) && $(ANSIBLE_TEST) --python $(SANITY_PYTHON) 2>&1 | tee $(CURDIR)/$(SANITY_LOG)
	$(call stage,ansible-test sanity --venv --python $(SANITY_PYTHON_OLDEST): compile and import)
	@interpreter="$$(tools/find-python $(SANITY_PYTHON_OLDEST))"; \
		ln -sfn "$$interpreter" build/pythons/python$(SANITY_PYTHON_OLDEST)
	cd $(SANITY_COPY) && PATH=$(CURDIR)/build/pythons:$$PATH \
		$(ANSIBLE_TEST) --python $(SANITY_PYTHON_OLDEST) --test compile --test import 2>&1 | tee -a $(CURDIR)/$(SANITY_LOG)
	@if grep -E 'Skipping sanity test|WARNING: Unable to find|All targets skipped' $(SANITY_LOG); then \
		echo "sanity: ansible-test skipped tests (see above): that is a failure here" >&2; exit 1; \
	fi

# --- molecule --------------------------------------------------------------------

# Scenarios live in extensions/molecule/<name>/molecule.yml; extensions/molecule/config.yml
# holds what they share (offline: no prerun, no Galaxy dependency step).
# SCENARIOS="a b" runs only those (make test splits the scenarios over two lanes).
# Each scenario's ephemeral directory (molecule's state; while it runs, the emulator's
# PID, endpoint and log) is build/molecule/<name>: by default molecule puts it in ~/.ansible/tmp under a name
# made from the checkout's directory name, one more set for every clone, never removed.
.PHONY: molecule
molecule: $(VENV_STAMP) collection-link  ## Run every Molecule scenario under extensions/molecule/ (or SCENARIOS="...")
	$(call stage,molecule $(or $(SCENARIOS),$(MOLECULE_NAMES)))
ifeq ($(MOLECULE_SCENARIOS),)
	@echo "no Molecule scenarios under extensions/molecule/ yet: nothing to run"
else
	@for scenario in $(or $(SCENARIOS),$(MOLECULE_NAMES)); do \
		echo "--> molecule test -s $$scenario"; \
		MOLECULE_EPHEMERAL_DIRECTORY=$(CURDIR)/build/molecule/$$scenario molecule test -s $$scenario || exit 1; \
	done
endif

# --- pytest ----------------------------------------------------------------------

# One pytest session over every suite, so one summary closes `make test`; the ten
# slowest tests are listed above it. pytest-xdist spreads test files over
# PYTEST_WORKERS processes (a file's tests stay together: module fixtures). pytest
# exits 5 when it collects nothing; its own summary then says "no tests ran".
.PHONY: pytest unit
pytest unit: $(VENV_STAMP) collection-link system-deps  ## pytest: tests/, emulator tests, Pulumi unit tests
	$(call stage,pytest $(PYTEST_PATHS))
	@pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=10 $(PYTEST_PATHS) || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; }

# The Pulumi program's unit tests alone (pulumi.runtime.set_mocks: no CLI, no AWS).
# `make test` runs them in a lane of their own (see below).
.PHONY: pulumi-unit
pulumi-unit: $(VENV_STAMP) collection-link  ## pytest pulumi/tests only
	$(call stage,pytest pulumi/tests)
	@if [ -d pulumi/tests ]; then pytest pulumi/tests; else echo "no pulumi/tests yet: nothing to run"; fi

# --- demo ------------------------------------------------------------------------

# The install job an AWX template runs, against the local emulator (demo/run_demo.py):
# a sample fleet gets the agent, waits until it replicates, and the dashboard is written
# to build/demo/. demo-lifecycle then drills, recovers, fails back and re-protects
# three of its servers.
.PHONY: demo demo-lifecycle
demo: $(VENV_STAMP) collection-link  ## Install agents on a sample fleet (local emulator), then the dashboard
	$(PY) demo/run_demo.py

demo-lifecycle: $(VENV_STAMP) collection-link  ## make demo, then drill, recovery, failback and re-protection
	$(PY) demo/run_demo.py --lifecycle

# --- everything ------------------------------------------------------------------

# Five lanes run side by side (tools/run-lanes): the checks (lint, then sanity), the Pulumi
# tests, the Molecule scenarios in two lanes, and pytest over everything else. Their logs
# are printed in that order once all have ended, so pytest's summary is the last line
# printed; any failing lane fails the run. The run is CPU-bound: the lanes share the two
# cores, and pytest (two workers, the most CPU) ends last, so both cores stay busy to the
# end. With the Pulumi tests at the end of the checks lane, that one-process lane ended
# last, alone on one core for the last half minute.
.PHONY: test
test: $(VENV_STAMP) collection-link system-deps  ## Everything CI runs: lint, sanity, Pulumi tests, molecule, pytest
	@tools/run-lanes \
		checks "$(MAKE) lint sanity" \
		pulumi "$(MAKE) pulumi-unit" \
		molecule-1 "$(MAKE) molecule SCENARIOS='$(MOLECULE_LANE_1)'" \
		molecule-2 "$(MAKE) molecule SCENARIOS='$(MOLECULE_LANE_2)'" \
		pytest "$(MAKE) pytest PYTEST_PATHS='$(filter-out pulumi/tests,$(PYTEST_PATHS))'"

.PHONY: clean
clean:  ## Remove build output and tool caches (keeps .venv)
	rm -rf build tests/output .pytest_cache .ruff_cache .hypothesis .ansible
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean  ## Also remove .venv
	rm -rf $(VENV)
