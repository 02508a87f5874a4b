# kubeception — every target installs what it needs, so a fresh machine only needs `make demo` / `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV       ?= uv
STATE    ?= .run
# the uv workspace's members (pyproject.toml), each checked by deptry
WORKSPACE := $(shell sed -n '/^members = \[/,/\]/p' pyproject.toml | grep -o '"[^"]*"' | tr -d '"')
REAL_NODES ?= 1
PY       := $(UV) run --locked --no-sync
# command:package — what the tests and the real nodes use from Debian (runc has seccomp; CNI plugins in /usr/lib/cni)
DEBIAN   := haproxy:haproxy prometheus:prometheus promtool:prometheus runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
            iptables:iptables nft:nftables conntrack:conntrack mmdebstrap:mmdebstrap skopeo:skopeo
# without their recommends (QEMU's would bring a GUI): the worker VMs' tests boot QEMU on the host; the console's
# test drives headless Chromium through chromedriver
DEBIAN_LEAN := qemu-system-x86_64:qemu-system-x86 chromium:chromium chromedriver:chromium-driver

.PHONY: help deps system-deps python-deps testenv images push lint typecheck pytest test test-unit test-fast timings up down demo conformance bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

# $(call apt-install,<command:package ...>,<apt-get options>): install the packages whose command is missing
define apt-install
	@missing=""; for b in $(1); do \
	  command -v $${b%%:*} >/dev/null || [ -x "$${b%%:*}" ] || missing="$$missing $${b##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq $(2) $$missing >/dev/null; \
	fi
endef

system-deps: ## Debian packages: haproxy, prometheus (and promtool), runc, CNI plugins, iptables, nftables, conntrack, mmdebstrap, QEMU, Chromium
	$(call apt-install,$(DEBIAN),)
	$(call apt-install,$(DEBIAN_LEAN),--no-install-recommends)

python-deps: ## uv, then the locked workspace into .venv
	@command -v $(UV) >/dev/null || python3 -m pip install --quiet uv
	$(UV) sync --locked --quiet

deps: system-deps python-deps

testenv: ## build etcd, kube-*, kubelet, containerd, kwok, helm, pause, flanneld into ~/.cache/kubeception (once per go.sum)
	@tools/testenv/build.sh >/dev/null

images: python-deps testenv ## build the OCI images (operators, pause, flannel, tools) into ~/.cache/kubeception/images
	@$(PY) python -m kubeception_testenv images

push: images ## push the images with skopeo: make push REGISTRY=registry.example.com/kubeception
	@test -n "$(REGISTRY)" || { echo "usage: make push REGISTRY=<registry>/<path>" >&2; exit 2; }
	@$(PY) python -m kubeception_testenv images | while IFS=$$'\t' read -r ref archive _; do \
	  echo "$$ref -> $(REGISTRY)/$${ref##*/}" >&2; skopeo copy --quiet "oci-archive:$$archive" "docker://$(REGISTRY)/$${ref##*/}"; done

lint: python-deps ## ruff, import contracts, declared dependencies (what the operators image installs)
	$(PY) ruff check .
	$(PY) ruff format --check .
	$(PY) lint-imports --no-cache
	@for package in $(WORKSPACE); do \
	  (cd $$package && $(PY) deptry --no-ansi src 2>&1 | grep -v '^Scanning') || exit 1; done

typecheck: python-deps ## mypy --strict
	$(PY) mypy

pytest: deps images ## the test suite against real servers, in one process (PYTEST_ARGS= to narrow it)
	$(PY) pytest $(PYTEST_ARGS)

RESULTS ?= $(STATE)/test-results
# Three pytest processes at once (on 2 cores: the real-node stream mostly waits on VMs and control planes, the AWS
# stream on the operator's polls of moto): measured in DEVELOPMENT.md's timings.
# One mother with a real node at a time: the real-node lane split in two streams starved both guests' control
# planes on 2 cores. The images' own tests (no mother) run in the shorter AWS stream. The real-node stream's JUnit
# file keeps each test's output: the scenario's `step <name>: N s` lines go into the timings report.
STREAMS ?= --stream realnodes='-m realnodes --ignore=tests/images -p no:cacheprovider -o junit_logging=system-out' \
           --stream aws='tests/aws tests/security tests/images -p no:cacheprovider' \
           --stream servers='-m "not realnodes" --ignore=tests/aws --ignore=tests/security --ignore=tests/images -p no:cacheprovider'
# The real-node stream is the long pole and the one whose guests starve (control planes, TCG VMs) when the cores are
# contended: the others, which have slack, run nicer.
NICE ?= --nice aws=10 --nice servers=10 --nice lint=15

test: deps testenv images ## everything CI runs: lint and mypy beside the suite's three streams; durations in $(RESULTS)
	$(PY) python -m kubeception_testenv.testrun --out $(RESULTS) $(STREAMS) $(NICE) --beside lint='$(MAKE) --no-print-directory lint typecheck'

test-unit: deps ## the unit lane: pure logic and rendering, no servers, no Go builds (about a minute)
	$(PY) pytest -m unit -p no:cacheprovider $(PYTEST_ARGS)

test-fast: deps testenv ## the lane without real nodes or VMs: real servers on loopback (control plane, kwok, OpenBao, moto)
	$(PY) pytest -m "not realnodes" $(PYTEST_ARGS)

timings: ## rewrite DEVELOPMENT.md's timings tables from the last `make test` (in $(RESULTS))
	$(PY) python -m kubeception_testenv.testrun --report --out $(RESULTS) --update DEVELOPMENT.md

up: deps images ## start the mother cluster (kwok + $(REAL_NODES) real node), OpenBao, moto, etcd, Prometheus in the background
	@$(PY) python -m kubeception_testenv up --state $(STATE) --real-nodes $(REAL_NODES)
	@echo "# (also in $(STATE)/env: eval \"\$$(cat $(STATE)/env)\")" >&2

down: ## stop everything `make up` / `make demo` started (the cluster's state in $(STATE) survives)
	@if [ -x .venv/bin/python ]; then .venv/bin/python -m kubeception_testenv down --state $(STATE); fi

demo: up ## the local demo: the platform installed by its charts on the real node, a guest cluster `demo` with a worker VM, an AWS guest `demo-aws` on moto
	@$(PY) python -m kubeception_testenv install --state $(STATE)
	@source $(STATE)/env && $(PY) kubectl apply -f examples/flannelconfig.yaml -f examples/certificates.yaml -f examples/kvmconfig.yaml -f examples/awsconfig.yaml >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=HostsReady --timeout=120s flannelconfig/sample >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=Ready --timeout=120s certconfig/sample-apiserver >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=Ready --timeout=300s -n org-acme kvmconfig/demo >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=WorkersReady --timeout=300s -n org-acme kvmconfig/demo >/dev/null
	@source $(STATE)/env && $(PY) kubectl wait --for=condition=Ready --timeout=300s -n org-acme awsconfig/demo-aws >/dev/null
	@$(PY) python -m kubeception_testenv guest-kubeconfig --state $(STATE) --cluster org-acme/demo > $(STATE)/guest.kubeconfig
	@$(PY) python -m kubeception_testenv scrape-guest --state $(STATE) --cluster org-acme/demo
	@source $(STATE)/env && $(PY) kubectl get kvmconfigs,awsconfigs,flannelconfigs,caconfigs,certconfigs -A >&2
	@source $(STATE)/env && $(PY) kubectl get pods -n demo-workers -o wide >&2
	@echo "# demo ready. The guest cluster demo, through HAProxy on the real node, its worker a VM in pod demo-workers/worker-default-0:" >&2
	@echo "export KUBECONFIG=$(abspath $(STATE))/guest.kubeconfig"
	@echo "kubectl get nodes"
	@$(PY) kubectl --kubeconfig $(STATE)/guest.kubeconfig get nodes -o wide
	@echo "# the mother: source $(STATE)/env; operators: kubectl -n kubeception-system logs deploy/kvm-operator" >&2
	@source $(STATE)/env && echo "# Prometheus (every operator replica, the guest's API server, monitoring/alerts.yaml): $$KUBECEPTION_PROMETHEUS_URL" >&2
	@echo "# the web console of organization acme: source $(STATE)/env && $(abspath .venv)/bin/kubectl-kubeception console -n org-acme (open the address it prints)" >&2
	@echo "# the shared console (its chart, behind an authenticating HAProxy): $$(cat $(STATE)/console-url) as alice, password in $(abspath $(STATE))/console-password, CA $(abspath $(STATE))/console-pki/ca.crt" >&2

# The Kubernetes conformance suite (docs/conformance.md): e2e.test of the guests' Kubernetes version, built on
# first use (tools/testenv/build.sh conformance; never by testenv), against the demo guest scaled to $(WORKERS)
# workers, its images pushed into the platform registry under the names it asks for (registry.k8s.io is mirrored:
# nothing is pulled from outside). e2e.test overrides its kubeconfig's server, which drops tls-server-name (the
# ingress routes by SNI): it gets the API's host name, resolved by a hosts file bind-mounted on /etc/hosts in a
# mount namespace of its own. One test at a time (the suite's own serial runner). FOCUS / SKIP: ginkgo
# regular expressions, e.g. make conformance FOCUS='\[sig-network\].*\[Conformance\]'.
FOCUS   ?= \[Conformance\]
SKIP    ?=
WORKERS ?= 2
CONFORMANCE_DIR ?= $(STATE)/conformance
conformance: python-deps ## the Kubernetes [Conformance] tests against the demo guest (after make demo; FOCUS=, SKIP=): JUnit and summary.md in .run/conformance
	@test -s $(STATE)/guest.kubeconfig || { echo "make demo first: no $(STATE)/guest.kubeconfig" >&2; exit 2; }
	@tools/testenv/build.sh conformance >/dev/null
	@$(PY) python -m kubeception_testenv conformance-images --state $(STATE)
	@source $(STATE)/env && replicas=$$($(PY) kubectl get kvmconfig demo -n org-acme -o jsonpath='{.spec.workerPools[0].replicas}') && \
	  if [ "$$replicas" -lt $(WORKERS) ]; then \
	    $(PY) kubectl patch kvmconfig demo -n org-acme --type json \
	      -p '[{"op":"replace","path":"/spec/workerPools/0/replicas","value":$(WORKERS)}]' >&2; fi
	@deadline=$$((SECONDS + 900)); \
	until [ "$$($(PY) kubectl --kubeconfig $(STATE)/guest.kubeconfig get nodes --no-headers 2>/dev/null | grep -cw Ready)" -ge $(WORKERS) ]; do \
	  [ $$SECONDS -lt $$deadline ] || { echo "the guest has fewer than $(WORKERS) Ready nodes after 900 s" >&2; exit 1; }; sleep 5; done
	@$(PY) python -m kubeception_testenv conformance-kubeconfig --state $(STATE) --report-dir $(CONFORMANCE_DIR)
	@bin=$$(tools/testenv/build.sh conformance); rc=0; start=$$SECONDS; \
	PATH="$(abspath .venv/bin):$$PATH" unshare --mount -- sh -c 'mount --bind "$$0" /etc/hosts && exec "$$@"' \
	  $(abspath $(CONFORMANCE_DIR))/hosts "$$bin/e2e.test" --provider=skeleton --kubeconfig=$(abspath $(CONFORMANCE_DIR))/kubeconfig \
	  --report-dir=$(abspath $(CONFORMANCE_DIR)) --ginkgo.focus='$(FOCUS)' $(if $(SKIP),--ginkgo.skip='$(SKIP)') \
	  --ginkgo.v --ginkgo.no-color --ginkgo.timeout=24h 2>&1 | tee $(CONFORMANCE_DIR)/e2e.log || rc=$$?; \
	echo "# e2e.test ran $$((SECONDS - start)) s; log: $(CONFORMANCE_DIR)/e2e.log" >&2; \
	$(PY) python -m kubeception_testenv conformance-summary --report-dir $(CONFORMANCE_DIR) || { [ $$rc -ne 0 ] || rc=1; }; exit $$rc

bench: deps testenv ## benchmarks (prints tables; see docs/benchmarks.md)
	$(PY) python bench/controllers.py --objects 1000
	$(PY) python bench/certs.py --clusters 50 --per-cluster 10
	$(PY) python bench/ingress.py --clusters 1000
	$(PY) python bench/kvm.py --clusters 100
	$(PY) python bench/workers.py --runs 2
	$(PY) python bench/aws.py --clusters 50
	$(PY) python bench/console.py --clusters 100

clean: down
	rm -rf $(STATE) .mypy_cache .ruff_cache .pytest_cache
