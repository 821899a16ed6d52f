# mihwar: two commands from a fresh clone.
#   make quickstart   set up .venv, run the DVC pipeline (prepare -> train -> evaluate), batch-label data/samples
#   make test         set up .venv (+ transformers extra, browser driver) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: quickstart setup setup-dev test pipeline label bench clean

quickstart: setup pipeline label

setup: $(VENV)/.core-installed

$(VENV)/.core-installed: requirements.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# the transformers extra (torch pinned to the CPU 2.13.0 build) and the browser-test driver
setup-dev: $(VENV)/.dev-installed

$(VENV)/.dev-installed: $(VENV)/.core-installed requirements-dev.lock
	$(PY) -m pip install -q -r requirements-dev.lock
	touch $@

pipeline: setup
	dvc repro

label: setup
	mihwar predict data/samples --output out/labels.jsonl
	@echo "first rows of out/labels.jsonl:"; head -n 3 out/labels.jsonl | cut -c1-220

test: setup-dev
	bash scripts/ensure-chromium.sh
	$(PY) -m pytest -q -ra

# labeling, cold start, memory, server, training and quality beside fastText (issue 13);
# writes reports/bench/latest.md and .json. BENCH_ARGS="--rss-1m" adds the 1M-paragraph RSS run (~10 min)
bench: setup-dev
	test -f models/default/meta.json || { mihwar prepare configs/default.yaml && mihwar train configs/default.yaml; }
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

clean:
	rm -rf out build .pytest_cache
