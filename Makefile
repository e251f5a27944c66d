# The README's two commands: `make train` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install train experiments test test-slow bench bench-train fidelity clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,gym,log]"
	touch $(STAMP)

install: $(STAMP)

# 8 seeds of DQNConfig.lunar_lander() in one compiled run, then greedy evaluation of every seed
# over 100 episodes in our env and in Box2D (runs/lander/summary.json) and a landing GIF.
train: $(STAMP)
	$(PY) -m rlax_lander train --env LunarLander-v3 --seeds 8 --out runs/lander --overwrite

# The two studies of experiments/results/ (each writes <name>.{md,json,png}).
experiments: $(STAMP)
	$(PY) experiments/target_network.py
	$(PY) experiments/dqn_variants.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -n 2

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) scripts/bench_env.py

bench-train: $(STAMP)
	$(PY) scripts/bench_train.py

fidelity: $(STAMP)
	$(PY) scripts/fidelity.py

clean:
	rm -rf $(VENV) runs .pytest_cache
