# The user-facing commands. Every target maps onto the TypeScript driver or a script in scripts/;
# a target whose platform cannot run on this machine says why and exits non-zero.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK ?= local
export MLOPS_CACHE_DIR ?= $(HOME)/.cache/mlops-pipeline

# Every target that runs Pulumi sources the toolchain environment (PATH, PULUMI_HOME, offline flags).
WITH_ENV := source scripts/env.sh &&

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

.PHONY: deps
deps: node_modules/.package-lock.json ## Install the pinned npm packages

.PHONY: toolchain
toolchain: deps ## Build or find the Pulumi CLI and plugins (cached outside the repo)
	bash scripts/toolchain.sh

.PHONY: venv
venv: ## Create .venv from python/requirements.lock
	bash scripts/python-env.sh
