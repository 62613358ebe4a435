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
GOTEST_FLAGS ?=

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Generated CI files

.PHONY: generate
generate: ## Rewrite .gitlab-ci.yml and .github/workflows/ci.yml from ci/reference.go.
	cd ci && $(GO) test -run '^TestGeneratedFiles$$' -count=1 . -args -update

.PHONY: generate-check
generate-check: ## Fail, printing the diff, when the committed CI files drift from ci/reference.go.
	cd ci && $(GO) test -run '^TestGeneratedFiles$$' -count=1 .

##@ Tests

.PHONY: test
test: ## Run every test: the library, the ci module, the runners and the end-to-end suites.
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) ./...
	cd ci && $(GO) vet ./... && $(GO) test $(GOTEST_FLAGS) ./...

.PHONY: bench
bench: ## Run the benchmarks and print ratios against baselines measured in the same run.
	$(GO) test -run '^$$' -bench . -benchmem ./pipeline/...

##@ Tools

.PHONY: tools
tools: ## Install the local CI runners the runner tests use (rsync, gitlab-ci-local, act), cached by version; writes .slipway/tools.env.
	sh internal/tools/install-runners.sh
