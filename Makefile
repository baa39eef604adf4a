# Two commands matter: `make demo` (a real sweep, results + figure) and `make test`.
# Both set up .venv first when needed (torch==2.13.0 before the project, so pip never pulls
# several GB of CUDA wheels on a CPU machine).
PYTHON ?= python3
PORT ?= 5006
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint format lab serve bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/workbench run lr-schedules --out results/demo

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lab: setup
	$(BIN)/jupyter lab notebooks/

serve: setup  # make serve PORT=5007 to use another port
	$(BIN)/workbench serve --port $(PORT)

bench: setup
	$(BIN)/python bench/lockstep.py --quick

clean:
	rm -rf $(VENV) results .pytest_cache .ruff_cache
