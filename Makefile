# kubeception — every target installs what it needs, so a fresh machine only needs `make demo` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV       ?= uv
STATE    ?= .run
APT_PKGS := haproxy prometheus
PY       := $(UV) run --locked --no-sync

.PHONY: help deps system-deps python-deps testenv lint typecheck pytest test up down demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

system-deps: ## Debian packages: haproxy, prometheus (promtool)
	@missing=""; for b in haproxy:haproxy promtool:prometheus; do \
	  command -v $${b%%:*} >/dev/null || missing="$$missing $${b##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq $$missing >/dev/null; \
	fi

python-deps: ## uv, then the locked workspace into .venv
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --locked --quiet

deps: system-deps python-deps

testenv: ## build etcd, kube-*, kwok, helm into ~/.cache/kubeception (once per go.sum)
	@tools/testenv/build.sh >/dev/null

lint: python-deps ## ruff
	$(PY) ruff check .
	$(PY) ruff format --check .

typecheck: python-deps ## mypy --strict
	$(PY) mypy

pytest: deps testenv ## the test suite against real servers
	$(PY) pytest $(PYTEST_ARGS)

test: deps testenv lint typecheck pytest ## everything CI runs

up: deps testenv ## start the local mother cluster + OpenBao, moto, etcd in the background
	@$(PY) python -m kubeception_testenv up --state $(STATE)
	@echo "# (also in $(STATE)/env: eval \"\$$(cat $(STATE)/env)\")" >&2

down: ## stop everything `make up` started
	@if [ -x .venv/bin/python ]; then .venv/bin/python -m kubeception_testenv down --state $(STATE); fi

demo: up ## the local demo: `make up` + the CRDs
	@if ls crds/*.yaml >/dev/null 2>&1; then source $(STATE)/env && $(PY) kubectl apply --server-side -f crds/ >&2; fi
	@echo "# demo ready: source $(STATE)/env, then kubectl get crds,nodes" >&2

bench: deps testenv ## benchmarks (prints tables; see docs/benchmarks.md)
	$(PY) python bench/controllers.py --objects 1000

clean: down
	rm -rf $(STATE) .mypy_cache .ruff_cache .pytest_cache
