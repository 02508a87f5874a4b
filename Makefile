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
	$(PY) lint-imports --no-cache

typecheck: python-deps ## mypy --strict
	$(PY) mypy

pytest: deps testenv ## the test suite against real servers
	$(PY) pytest $(PYTEST_ARGS)

test: deps testenv lint typecheck pytest ## everything CI runs

up: deps testenv ## start the local mother cluster + OpenBao, moto, etcd in the background
	@$(PY) python -m kubeception_testenv up --state $(STATE)
	@echo "# (also in $(STATE)/env: eval \"\$$(cat $(STATE)/env)\")" >&2

down: ## stop everything `make up` / `make demo` started
	@for pid in $(STATE)/*-operator.pid; do [ -f "$$pid" ] || continue; kill $$(cat $$pid) 2>/dev/null || true; \
	  for i in $$(seq 60); do kill -0 $$(cat $$pid) 2>/dev/null || break; sleep 0.5; done; \
	  kill -9 $$(cat $$pid) 2>/dev/null || true; rm -f $$pid; done
	@if [ -x .venv/bin/python ]; then .venv/bin/python -m kubeception_testenv down --state $(STATE); fi

demo: up ## the local demo: `make up`, the CRDs, the operators, an example guest network
	@source $(STATE)/env && $(PY) kubectl apply --server-side -f crds/ >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=Established --timeout=30s -f crds/ >/dev/null
	@source $(STATE)/env && if ! { [ -f $(STATE)/flannel-operator.pid ] && kill -0 $$(cat $(STATE)/flannel-operator.pid) 2>/dev/null; }; then \
	  nohup .venv/bin/python -m flannel_operator --etcd.endpoint "$$KUBECEPTION_ETCD_ENDPOINT" --hosts.node-selector type=kwok \
	    --leader-election.namespace default --http.metrics-address 127.0.0.1:18080 --http.probe-address 127.0.0.1:18081 \
	    > $(STATE)/flannel-operator.log 2>&1 & echo $$! > $(STATE)/flannel-operator.pid; fi
	@source $(STATE)/env && if ! { [ -f $(STATE)/cert-operator.pid ] && kill -0 $$(cat $(STATE)/cert-operator.pid) 2>/dev/null; }; then \
	  nohup .venv/bin/python -m cert_operator --leader-election.namespace default \
	    --http.metrics-address 127.0.0.1:18090 --http.probe-address 127.0.0.1:18091 \
	    > $(STATE)/cert-operator.log 2>&1 & echo $$! > $(STATE)/cert-operator.pid; fi
	@source $(STATE)/env && $(PY) kubectl apply -f examples/flannelconfig.yaml -f examples/certificates.yaml >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=HostsReady --timeout=90s flannelconfig/demo >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=Ready --timeout=90s certconfig/demo-apiserver >/dev/null
	@source $(STATE)/env && $(PY) kubectl get flannelconfigs,caconfigs,certconfigs,nodes >&2
	@echo "# demo ready: source $(STATE)/env; operator logs in $(STATE)/*-operator.log, metrics on :18080, :18090" >&2

bench: deps testenv ## benchmarks (prints tables; see docs/benchmarks.md)
	$(PY) python bench/controllers.py --objects 1000
	$(PY) python bench/certs.py --clusters 50 --per-cluster 10

clean: down
	rm -rf $(STATE) .mypy_cache .ruff_cache .pytest_cache
