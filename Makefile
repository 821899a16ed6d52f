# mihwar: two commands from a fresh clone.
#   make quickstart   set up .venv, run the DVC pipeline (prepare -> train -> evaluate), batch-label data/samples
#   make test         set up .venv (+ transformers and spark extras, browser driver, Java) and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: quickstart setup setup-dev test pipeline label bench clean label-studio label-studio-stop notebook learning-curve

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
	@$(PY) -c "import json; rows = [json.loads(l) for l in open('out/labels.jsonl', encoding='utf-8')]; \
	print('out/labels.jsonl (label, confidence, id):'); \
	print('\n'.join('  %-13s %-7s %s' % (r['label'] or 'error', r['confidence'], r['id']) for r in rows))"

test: setup-dev
	bash scripts/ensure-chromium.sh
	bash scripts/label-studio.sh install
	bash scripts/ensure-java.sh
	$(PY) -m pytest -q -ra

# labeling, cold start, memory, server, training and quality beside fastText (issue 13);
# writes reports/bench/latest.md and .json. BENCH_ARGS="--rss-1m" adds the 1M-paragraph RSS run (~10 min)
bench: setup-dev
	test -f models/default/meta.json || { mihwar prepare configs/default.yaml && mihwar train configs/default.yaml; }
	$(PY) -m benchmarks.run_all $(BENCH_ARGS)

# the labeling loop: a local Label Studio (own venv, 127.0.0.1:8080) with the suggested tasks imported
label-studio: setup
	bash scripts/label-studio.sh install
	eval "$$(bash scripts/label-studio.sh start)" && mihwar suggest configs/default.yaml --limit 40 \
	  --to-label-studio http://127.0.0.1:$${LABEL_STUDIO_PORT:-8080} && \
	  echo "label, then: LABEL_STUDIO_API_KEY=$$LABEL_STUDIO_API_KEY mihwar import-labels --from-label-studio http://127.0.0.1:$${LABEL_STUDIO_PORT:-8080} --project 1"

label-studio-stop:
	bash scripts/label-studio.sh stop

notebook: setup-dev
	MPLBACKEND=Agg $(VENV)/bin/jupyter nbconvert --to notebook --execute notebooks/00_start_here.ipynb --output-dir build/notebooks
	@echo "executed copy: build/notebooks/00_start_here.ipynb (the committed one stays without outputs)"

learning-curve: setup
	$(PY) scripts/learning_curve.py configs/default.yaml

clean:
	rm -rf out build .pytest_cache
