# MIMO node pack: set-up, tests, demo. Every target installs what it needs into git-ignored
# folders of the repo (.venv/, .comfyui/, .cache/) and skips steps that are already done.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test test-unit demo lint bench clean tiny-model

setup:
	@bash scripts/setup.sh

test: setup
	@$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-unit: setup
	@$(PY) -m pytest -q -ra tests/unit $(PYTEST_ARGS)

demo: setup
	@$(PY) scripts/demo.py

lint: setup
	@$(PY) -m ruff check .

bench: setup
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf .venv .comfyui .cache output test-artifacts .pytest_cache .ruff_cache

.PHONY: default-model
default-model: setup
	@$(PY) -m trainer.default_model --out models/mimo-default --minutes 52
