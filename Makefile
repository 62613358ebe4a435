# slipway's developer entry points. `make help` lists them.
#
# Everything the targets need is installed by the targets themselves and
# cached by version under $(SLIPWAY_CACHE), so a fresh Debian 12 machine with
# the Go module proxy, apt and npm is enough.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export GOTOOLCHAIN := local
SLIPWAY_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/slipway
export SLIPWAY_CACHE

GO ?= go
# The end-to-end suites build images and run whole pipelines: on a cold 2-core machine
# they outlast go test's default 10-minute timeout.
GOTEST_FLAGS ?= -timeout 60m
# TEST_JSON_DIR, when set (CI sets it), runs each `go test` of `make test` through gotestsum:
# the same one line per package, failures in full, and every test's event stream, the logs of
# passed tests included, in $(TEST_JSON_DIR)/<suite>.json, which `make test-slowest` reads.
# go test alone prints nothing of a passed test, so a slow run could not say where its time went.
TEST_JSON_DIR ?=
GOTESTSUM_VERSION := v1.13.0
GOTESTSUM := $(SLIPWAY_CACHE)/tools/gotestsum-$(GOTESTSUM_VERSION)/bin/gotestsum
# gotest runs the suite named $(1): go test, or gotestsum writing its events.
gotest = $(if $(TEST_JSON_DIR),$(GOTESTSUM) --format pkgname-and-test-fails --jsonfile $(abspath $(TEST_JSON_DIR))/$(1).json --,$(GO) test)

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ The main job

# DEPLOY picks the deploy source of `make demo`: apply (the kustomize overlays), helm (the chart)
# or gitops (promote commits synced by Argo CD, which `make gitops` starts with its git server).
DEPLOY ?= apply

.PHONY: demo
demo: engine cluster modules $(if $(filter gitops,$(DEPLOY)),gitops) ## Run the whole reference pipeline on the local engine and cluster; stops at the production gate (APPROVE=deploy:production approves it; DEPLOY=apply|helm|gitops picks the deploy source).
	@command -v dot >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz >/dev/null 2>&1; } || true
	. .slipway/engine.env && cd ci && $(GO) run ./cmd/demo -deploy '$(DEPLOY)' $(if $(APPROVE),-approve '$(APPROVE)') $(if $(REF),-ref '$(REF)')

.PHONY: modules
modules: ## Download the Go modules slipway's Dagger module and its tools build with: the local engine fetches them from this machine's module cache.
	$(GO) mod download
	cd dagger && $(GO) mod download
	cd ci && $(GO) mod download

##@ Generated CI files

.PHONY: generate
generate: ## Rewrite .gitlab-ci.yml and .github/workflows/ci.yml from ci/reference/reference.go.
	cd ci && $(GO) test -run '^TestGeneratedFiles$$' -count=1 ./reference -args -update

.PHONY: generate-check
generate-check: ## Fail, printing the diff, when the committed CI files drift from ci/reference/reference.go.
	cd ci && $(GO) test -run '^TestGeneratedFiles$$' -count=1 ./reference

##@ Tests

.PHONY: test
test: tools examples-tools modules $(if $(TEST_JSON_DIR),$(GOTESTSUM)) ## Run every test: the library, the ci module, the runners and the end-to-end suites (TEST_JSON_DIR=dir keeps every test's events).
	$(GO) vet ./...
	cd dagger && $(GO) vet ./...
	$(call gotest,slipway) $(GOTEST_FLAGS) ./...
	$(call gotest,deployai-integration) $(GOTEST_FLAGS) -tags integration ./examples/deployai/...
	cd ci && $(GO) vet ./... && $(call gotest,ci) $(GOTEST_FLAGS) ./...
	cd examples/external && $(GO) vet ./... && $(call gotest,external) $(GOTEST_FLAGS) ./...

# SLOWEST_THRESHOLD: tests that took at least this long are listed.
SLOWEST_THRESHOLD ?= 60s

.PHONY: test-slowest
test-slowest: $(if $(TEST_JSON_DIR),$(GOTESTSUM)) ## After `make test TEST_JSON_DIR=dir`: the tests that took SLOWEST_THRESHOLD or more, slowest first, per suite.
	@test -n "$(TEST_JSON_DIR)" || { echo "test-slowest: set TEST_JSON_DIR to the directory that \`make test TEST_JSON_DIR=dir\` wrote" >&2; exit 2; }
	@for f in $(abspath $(TEST_JSON_DIR))/*.json; do \
	  [ -s "$$f" ] || continue; \
	  echo "== $$(basename "$$f" .json): tests of $(SLOWEST_THRESHOLD) or more, slowest first"; \
	  $(GOTESTSUM) tool slowest --jsonfile "$$f" --threshold $(SLOWEST_THRESHOLD) | sed 's/^/  /'; \
	done

# Built beside and renamed into place, as internal/gotool caches its tools: an interrupted build
# leaves no half-written binary that make would take as up to date.
$(GOTESTSUM):
	rm -rf $(@D).tmp
	GOBIN=$(@D).tmp $(GO) install -trimpath -ldflags '-s -w' gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mkdir -p $(@D) && mv $(@D).tmp/gotestsum $@ && rmdir $(@D).tmp

BENCH_FLAGS ?= -benchtime=2s
# A deploy benchmark's op is a whole rollout (seconds, paced by one-second
# readiness probes): a fixed count of samples keeps one probe's tick from
# deciding the ratio.
DEPLOY_BENCH_FLAGS ?= -benchtime=5x

.PHONY: bench
bench: ## Run the benchmarks and print ratios against baselines measured in the same run.
	{ $(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./pipeline/... ./stage/... ; \
	  $(GO) test -run '^$$' -bench . -benchmem $(DEPLOY_BENCH_FLAGS) ./deploy/... ; \
	  ( cd ci && $(GO) test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./reference ) ; \
	  $(GO) test -run '^$$' -bench . -benchtime=1x -timeout 180m ./internal/stagese2e ; } \
	| $(GO) run ./internal/cmd/benchratio \
	    -ratio 'generate 300-job pipeline vs yaml.v3 encode=BenchmarkGenerate300/BenchmarkEncodeYAML300<=1' \
	    -ratio 'deploy rollout vs kubectl set image + rollout status=BenchmarkDeployRollout/BenchmarkKubectlRollout<=1' \
	    -ratio 'helm deploy vs helm upgrade --install --wait=BenchmarkHelmDeploy/BenchmarkHelmCLIUpgradeWait<=1' \
	    -ratio 'SBOM + signing + provenance vs build stage=BenchmarkEvidenceAdded/BenchmarkEvidenceBuild<=0.2' \
	    -limit 'BenchmarkGenerate300<=50ms' \
	    -limit 'BenchmarkGenerateReference<=50ms' \
	    -ratio 'pipeline warm, no change vs trivial cached call=BenchmarkPipelineWarm/BenchmarkTrivialCall<=1.5' \
	    -ratio 'pipeline one-file change vs cold=BenchmarkPipelineOneFileChange/BenchmarkPipelineCold<=0.3' \
	    -ratio 'pipeline warm vs cold=BenchmarkPipelineWarm/BenchmarkPipelineCold' \
	    -ratio 'image bytes vs python:3.11-slim (compressed)=BenchmarkImageSize/BenchmarkPythonSlimSize:bytes<=0.1' \
	    -ratio 'module first load vs one-function module=BenchmarkColdModuleLoad/BenchmarkColdTrivialModuleLoad' \
	    -limit 'BenchmarkColdModuleLoad<=60s' \
	    -ratio 'reference jobs on hosted runners (a fresh engine per job) vs warm=BenchmarkReferenceJobsEphemeral/BenchmarkReferenceJobsWarm' \
	    -ratio 'reference as one job on a fresh engine vs jobs warm=BenchmarkReferenceOneJobEphemeral/BenchmarkReferenceJobsWarm' \
	    -ratio 'one job vs a job per stage, both on fresh engines=BenchmarkReferenceOneJobEphemeral/BenchmarkReferenceJobsEphemeral'

##@ Tools

.PHONY: tools
tools: ## Install the local CI runners the runner tests use (rsync, gitlab-ci-local, act), cached by version; writes .slipway/tools.env.
	sh internal/tools/install-runners.sh

##@ Air-gapped Dagger engine (internal/engine; README "Air-gapped Dagger engine")

ENGINE_CMD = $(GO) run ./internal/cmd/engine
# e.g. ENGINE_FLAGS='-instance /tmp/e2 -cache /tmp/c': a throwaway instance next to the shared one.
ENGINE_FLAGS ?=

.PHONY: engine
engine: ## Build (cached by version) and start the Dagger engine with its registry mirror, or reuse the running one; writes .slipway/engine.env. A running engine that differs is restarted only when no client is connected (FORCE=1 restarts it anyway).
	$(ENGINE_CMD) up $(ENGINE_FLAGS) $(if $(FORCE),-force)

.PHONY: engine-prune
engine-prune: ## Bring the running engine's build cache under its cap (default 25GiB; CACHE_MAX=40GB), least recently used first. Restarts the engine, so it refuses while clients are connected. The engine never collects on its own while sessions run (see internal/engine).
	$(ENGINE_CMD) prune $(ENGINE_FLAGS) $(if $(CACHE_MAX),-cache-max $(CACHE_MAX))

.PHONY: engine-down
engine-down: ## Stop what `make engine` started; no process, mount, interface or iptables rule is left.
	$(ENGINE_CMD) down $(ENGINE_FLAGS)

.PHONY: engine-status
engine-status: ## Say whether the engine runs (and how many clients it has), and why not.
	$(ENGINE_CMD) status $(ENGINE_FLAGS)

##@ Local Kubernetes control plane (internal/cluster; etcd + kube-apiserver/controller-manager/scheduler + kwok on 127.0.0.1)

CLUSTER_CMD = $(GO) run ./internal/cmd/cluster
CLUSTER_FLAGS ?=

.PHONY: cluster
cluster: ## Build (cached by version) and start etcd, kube-apiserver, controller-manager, scheduler and kwok on 127.0.0.1, or reuse the running one; writes .slipway/cluster/kubeconfig.
	$(CLUSTER_CMD) up $(CLUSTER_FLAGS)

.PHONY: cluster-down
cluster-down: ## Stop every process `make cluster` started.
	$(CLUSTER_CMD) down $(CLUSTER_FLAGS)

.PHONY: cluster-status
cluster-status: ## Say whether the control plane runs, and why not.
	$(CLUSTER_CMD) status $(CLUSTER_FLAGS)

##@ GitOps controller (internal/argocd: Argo CD's application controller + repo-server, Debian's Redis, on the local control plane)

GITOPS_CMD = $(GO) run ./internal/cmd/gitops

.PHONY: gitops
gitops: cluster gitops-tools ## Build (cached by version) and start Argo CD v3.2.11's application controller and repo-server with Debian's Redis against the local control plane, and the git server the engine's containers push to (with the engine), or reuse them.
	$(GITOPS_CMD) up

.PHONY: gitops-tools
gitops-tools: ## Install Debian's git and Redis (redis-tools: the server binary, no service) when missing.
	@missing=""; command -v git >/dev/null 2>&1 || missing="$$missing git"; [ -x /usr/bin/redis-check-rdb ] || missing="$$missing redis-tools"; \
	if [ -z "$$missing" ]; then exit 0; fi; sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "gitops-tools: installing$$missing (apt)"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing \
	  || { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }

.PHONY: gitops-down
gitops-down: ## Stop what `make gitops` started.
	$(GITOPS_CMD) down

.PHONY: gitops-status
gitops-status: ## Say whether Argo CD runs, and why not.
	$(GITOPS_CMD) status

##@ Example service (examples/deployai)

.PHONY: examples-tools
examples-tools: ## Install promtool and amtool (Debian packages prometheus, prometheus-alertmanager) for the examples/deployai/deploy tests, only when missing.
	@missing=""; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	if [ -z "$$missing" ]; then echo "examples-tools: promtool and amtool present"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "examples-tools: installing$$missing (apt)"; \
	$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing \
	  || { $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; }
