# Two commands a newcomer needs:  `make demo` (main job)  and  `make test` (every package's tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check
PACKAGES := core codecs annotate tasks train
STAMP := $(VENV)/.aether-installed

.PHONY: setup test demo clean

setup: $(STAMP)

# torch==2.13.0 is pinned first so pip takes the CPU build on disk instead of a multi-GB CUDA build.
$(STAMP): $(wildcard packages/*/pyproject.toml) Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0 hatchling editables
	$(PIP) --no-build-isolation $(foreach p,$(PACKAGES),-e "packages/aether-$(p)[test]")
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q -n 2 packages tools

demo: setup
	$(VENV)/bin/aether demo --out demo-out

clean:
	rm -rf $(VENV) demo-out
