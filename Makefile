# mihwar: two commands from a fresh clone.
#   make quickstart   set up .venv, run the DVC pipeline (prepare -> train -> evaluate), batch-label data/samples
#   make test         set up .venv (with the transformers extra) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: quickstart setup setup-transformers test pipeline label bench clean

quickstart: setup pipeline label

setup: $(VENV)/.core-installed

$(VENV)/.core-installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

setup-transformers: $(VENV)/.transformers-installed

$(VENV)/.transformers-installed: $(VENV)/.core-installed requirements-transformers.lock
	$(PY) -m pip install -q -r requirements-transformers.lock
	touch $@

pipeline: setup
	dvc repro

label: setup
	mihwar predict data/samples --output out/labels.jsonl
	@echo "first rows of out/labels.jsonl:"; head -n 3 out/labels.jsonl | cut -c1-220

test: setup-transformers
	$(PY) -m pytest -q -ra

bench: setup
	$(PY) benchmarks/bench_predict.py

clean:
	rm -rf out build .pytest_cache
