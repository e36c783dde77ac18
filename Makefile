# One command each: `make run` (the main job), `make demo` (a scripted call), `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# checkov gets a venv of its own (its bc-python-hcl2 shadows python-hcl2's `hcl2` module). It sits
# inside $(VENV) so that git, ruff and `make clean` treat it like the main venv.
CHECKOV_VENV  ?= $(VENV)/checkov
CHECKOV       := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp

.PHONY: install run demo test lint typecheck bench stage clean lock lock-checkov

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	# The Cloud Tasks emulator pins an old protobuf it does not need: install it without its deps.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gcloud-tasks-emulator==0.6.2
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt constraints-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	@touch $@

install: $(STAMP) $(CHECKOV_STAMP)

run: $(STAMP)
	$(VENV)/bin/ivr run

demo: $(STAMP)
	$(VENV)/bin/ivr demo

test: $(STAMP) $(CHECKOV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	IVR_CHECKOV=$(CHECKOV) $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) benchmarks/engine_step.py

stage: $(STAMP)
	$(PY) tools/stage_functions.py build

lock: $(STAMP)
	$(PY) -m pip freeze --exclude-editable | grep -v "^gcloud-tasks-emulator==" | sed '1i # Exact versions of the whole dependency closure (runtime + dev). Regenerate with: make lock' > constraints.txt

lock-checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/python -m pip freeze | sed '1i # Exact versions of the dependency closure of checkov (its own venv). Regenerate with: make lock-checkov' > constraints-checkov.txt

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
