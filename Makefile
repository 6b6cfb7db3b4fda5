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

.PHONY: install browser demo test bench soak clean

install: $(STAMP)

# torch first, from the pinned CPU build: a bare `torch` requirement would pull CUDA packages.
$(STAMP): $(PYPROJECTS) $(EXAMPLE_FILES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev]'
	# compat: a path entry, so a plugin's outer folder in the working directory cannot shadow it
	$(PIP) install --quiet --config-settings editable_mode=compat $(addprefix -e ./,$(PLUGINS))
	$(PIP) install --quiet --no-deps --force-reinstall ./$(EXAMPLE)
	touch $(STAMP)

demo: install
	$(VENV)/bin/redheart analyze --config examples/configs/offline.yaml - < examples/situation.txt

# the HTML report's tests look at it in Debian's headless chromium (fonts-nanum: Korean glyphs)
BROWSER_PACKAGES := chromium fonts-nanum
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(BROWSER_PACKAGES); }

# tests/conftest.py loads only this repository's plugins, never ones a user installed
test: install browser
	$(PY) -m pytest -q tests $(EXAMPLE)/tests

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
