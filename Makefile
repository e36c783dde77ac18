# One command each: `make run` (the main job), `make demo` (a scripted call), `make test` (everything).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run demo test lint typecheck bench stage clean lock

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	# The Cloud Tasks emulator pins an old protobuf it does not need: install it without its deps.
	$(PY) -m pip install -q --disable-pip-version-check --no-deps gcloud-tasks-emulator==0.6.2
	@touch $@

install: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/ivr run

demo: $(STAMP)
	$(VENV)/bin/ivr demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

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

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
