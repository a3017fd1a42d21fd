# A thin door to nox (noxfile.py): every target works on a fresh clone with python3.11 + docker.
#   make up          build images, start the cluster, run the demo workload
#   make down        stop it, keep the volumes (make down V=1: remove them too)
#   make test        lint, unit, property, integration, chaos smoke subset (what CI runs)
#   make bench       peer benchmark
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
NOX := $(VENV)/bin/nox
NOX_VERSION := 2026.10.20

.PHONY: up down test bench images lint unit property integration chaos clean

# The project venv only carries nox; nox makes one venv per session under .nox/.
$(NOX):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check nox==$(NOX_VERSION)

up: $(NOX)
	$(NOX) -s up demo

down: $(NOX)
	$(NOX) -s down $(if $(V),-- -v)

test: $(NOX)
	JOBFLEET_CHAOS_SUBSET=smoke $(NOX)

bench: $(NOX)
	$(NOX) -s bench

images lint unit property integration chaos: $(NOX)
	$(NOX) -s $@

clean:
	rm -rf .nox compose/.build
