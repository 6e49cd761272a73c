# Two commands do all set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# everything that changes what `pip install -e .` builds
BUILD_INPUTS := pyproject.toml setup.py neuroemu/_cffi_build.py $(wildcard neuroemu/kernel/*.c neuroemu/kernel/*.h neuroemu/hardware/*.c neuroemu/hardware/*.h)

.PHONY: run test test-slow test-queue-c test-queue-python wheel-check bench mutation clean

$(STAMP): $(BUILD_INPUTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,plots,distributed,columnar,nir,mpi]'
	touch $(STAMP)

## run the embedded default chip and workload
run: $(STAMP)
	$(BIN)/neuroemu run

## the whole default suite, once on each event queue backend
test: test-queue-c test-queue-python

test-queue-c: $(STAMP)
	NEUROEMU_QUEUE=c $(BIN)/python -m pytest -q

test-queue-python: $(STAMP)
	NEUROEMU_QUEUE=python $(BIN)/python -m pytest -q

## the slow tests (full-chip runs, long fuzzing)
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

## install from a wheel into a fresh venv and use it from a temporary directory (.ci/run, after `make test`)
wheel-check:
	PYTHON=$(PYTHON) .ci/wheel-check

## every benchmark (JSON lines; results recorded in benchmarks/README.md)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_queue.py
	$(BIN)/python benchmarks/bench_packet.py
	$(BIN)/python benchmarks/bench_digits.py
	$(BIN)/python benchmarks/bench_truenorth.py
	$(BIN)/python benchmarks/bench_barrier.py
	$(BIN)/python benchmarks/bench_setup.py
	$(BIN)/python benchmarks/bench_mapping.py
	$(BIN)/python benchmarks/bench_chips.py
	$(BIN)/python benchmarks/bench_cuba.py

## seed bugs one at a time into the modules that decide results and run their tests (about an hour
## on 2 cores; not in CI). MUTATION_ARGS e.g. "--modules energy,timing --max-per-module 10"
MUTATION_ARGS ?= --jobs 2
mutation: $(STAMP)
	$(BIN)/python tools/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info neuroemu/*/_*.so neuroemu/*/_*.c
