# The user-facing commands. Every target maps onto the TypeScript driver or a script in scripts/;
# a target whose platform cannot run on this machine says why and exits non-zero.
SHELL := /bin/bash
.DEFAULT_GOAL := help
STACK ?= local
export MLOPS_CACHE_DIR ?= $(HOME)/.cache/mlops-pipeline

# The local platform needs only the Pulumi CLI, the language host and the random plugin; other platforms
# also need the kubernetes, docker and postgresql plugins, long builds on a cold machine.
PLATFORM := $(shell awk -F': *' '/mlops:platform:/ {print $$NF; exit}' Pulumi.$(STACK).yaml 2>/dev/null)
TOOLCHAIN_FOR_STACK := $(if $(filter local,$(PLATFORM)),toolchain-core,toolchain)

# Targets that run Pulumi source the toolchain environment (PATH, PULUMI_HOME, offline flags, state backend).
WITH_ENV := source scripts/env.sh &&
PIPELINE := $(WITH_ENV) npm run --silent pipeline --
# docker and kubernetes stacks first check that their platform can run from here, and say why not.
REQUIRE_PLATFORM := $(if $(filter docker kubernetes,$(PLATFORM)),bash scripts/require-platform.sh $(PLATFORM) &&)

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# ---------- setup ----------

# A node_modules that is a link to another checkout's (git worktrees) is that checkout's to install:
# npm ci through the link would empty it for everyone.
node_modules/.package-lock.json: package.json package-lock.json
	@if [ -L node_modules ]; then echo "deps: node_modules links to $$(readlink -f node_modules): install there"; else npm ci --no-audit --no-fund; fi
	@touch $@

.PHONY: deps
deps: node_modules/.package-lock.json ## Install the pinned npm packages

.PHONY: toolchain
toolchain: deps ## Build or find the Pulumi CLI and the kubernetes, docker, random and postgresql plugins (cached outside the repo)
	bash scripts/toolchain.sh

.PHONY: toolchain-core
toolchain-core: deps ## Only what the local platform needs: the Pulumi CLI, the Node.js language host and the random plugin
	bash scripts/toolchain.sh core

.PHONY: seaweedfs
seaweedfs: ## Build SeaweedFS (the S3 server the tests use) into the cache
	bash scripts/toolchain.sh seaweedfs

.PHONY: toolchain-check
toolchain-check: ## What the toolchain cache holds; non-zero if something is missing
	bash scripts/toolchain.sh check

.PHONY: venv
venv: ## Create .venv from python/requirements.lock
	bash scripts/python-env.sh

.PHONY: setup
setup: deps venv $(TOOLCHAIN_FOR_STACK)

# Tests use every platform: the full toolchain, the S3 server and the docker images.
.PHONY: test-setup
test-setup: deps venv ## Everything the tests need (scripts/test-setup.sh overlaps the builds; see its header)
	bash scripts/test-setup.sh

# The docker e2e test's images (Debian stand-ins, then ours; cached by content). Where no engine can be
# started (no root, no Docker) the docker tests skip with that reason; in CI that is a failure.
.PHONY: test-docker-images
test-docker-images:
	@if bash scripts/docker/engine.sh start || [ -n "$$CI" ]; then \
	  $(MAKE) --no-print-directory docker-base-images build-train build-prod; \
	else echo "test-setup: no Docker engine could be started here: the docker tests will skip"; fi

# ---------- the pipeline ----------

.PHONY: pipeline
pipeline: setup ## Run init -> train -> select -> deploy -> one prediction on STACK (default: local)
	$(REQUIRE_PLATFORM) $(PIPELINE) --stack $(STACK)

.PHONY: validate
validate: deps ## Check STACK's config and config/metrics_config.yaml; changes nothing
	npm run --silent validate -- --stack $(STACK)

.PHONY: mlflow-init
mlflow-init: setup ## init only: the MLflow tracking server of STACK
	$(REQUIRE_PLATFORM) $(PIPELINE) --stack $(STACK) --phase init

.PHONY: mlflow-remove
mlflow-remove: setup ## Remove everything STACK runs, in reverse order (serving, training, tracking)
	$(PIPELINE) --stack $(STACK) --destroy

.PHONY: rotate-secrets
rotate-secrets: setup ## New generated passwords (database role, object store, MLflow admin and users) for STACK, then the whole pipeline on them
	$(REQUIRE_PLATFORM) $(PIPELINE) --stack $(STACK) --rotate-secrets

.PHONY: select-model
select-model: setup ## select only: register the best run of STACK's study as the champion
	$(PIPELINE) --stack $(STACK) --phase select

.PHONY: inference-one
inference-one: deps ## One input in, one prediction out, through STACK's load balancer
	$(WITH_ENV) npm run --silent predict -- --stack $(STACK)

.PHONY: generate-data
generate-data: venv ## Synthesise a classification dataset to data/train.parquet (ROWS, FEATURES, SEED)
	.venv/bin/python images/trainer/generate_data.py --rows $(or $(ROWS),2000) --features $(or $(FEATURES),20) --informative $(or $(INFORMATIVE),8) --classes $(or $(CLASSES),2) --seed $(or $(SEED),7) --out $(or $(OUT),data/train.parquet)

.PHONY: compose-logs
compose-logs: ## Logs of STACK's running workloads (local: .pipeline/logs; docker: the containers)
	bash scripts/logs.sh $(STACK)

# ---------- docker platform (stack dev) ----------

.PHONY: build-train
build-train: deps ## Build STACK's trainer image (its images.tag, registry, pythonBase; starts Debian's dockerd if no engine answers)
	flags=$$(npx tsx config/imageBuild.ts --stack $(STACK)) && bash scripts/docker/engine.sh start && bash scripts/docker/build-images.sh $$flags trainer

.PHONY: build-prod
build-prod: deps ## Build STACK's MLflow and serving images (as build-train)
	flags=$$(npx tsx config/imageBuild.ts --stack $(STACK)) && bash scripts/docker/engine.sh start && bash scripts/docker/build-images.sh $$flags mlflow serving

.PHONY: docker-base-images
docker-base-images: ## Local stand-ins for python, postgres, nginx and SeaweedFS images, from Debian packages (air-gapped)
	bash scripts/docker/engine.sh start && bash scripts/docker/base-image.sh all

.PHONY: train-docker
train-docker: setup ## Training containers on the Docker host (stack dev; needs the @pulumi/docker plugin)
	bash scripts/require-platform.sh docker && $(PIPELINE) --stack $(or $(filter-out local,$(STACK)),dev) --phase train

.PHONY: prod-docker
prod-docker: setup ## Serving containers + nginx on the Docker host (stack dev; needs the @pulumi/docker plugin)
	bash scripts/require-platform.sh docker && $(PIPELINE) --stack $(or $(filter-out local,$(STACK)),dev) --phase deploy

# ---------- kubernetes platform (stack prod) ----------

.PHONY: train-kubernetes
train-kubernetes: setup ## The training Indexed Job on the current kubeconfig's cluster (stack prod)
	bash scripts/require-platform.sh kubernetes && $(PIPELINE) --stack $(or $(filter-out local,$(STACK)),prod) --phase train

.PHONY: prod-kubernetes
prod-kubernetes: setup ## Serving Deployment + Service + Ingress (+HPA) on the current cluster (stack prod)
	bash scripts/require-platform.sh kubernetes && $(PIPELINE) --stack $(or $(filter-out local,$(STACK)),prod) --phase deploy

# ---------- a local single-node cluster (air-gapped: built from the Go proxy and Debian packages) ----------

.PHONY: cluster-build
cluster-build: ## Build and cache every binary and image of the local cluster (Kubernetes, etcd, CoreDNS, Traefik, metrics-server, pause)
	bash scripts/cluster/build.sh all && bash scripts/cluster/images.sh build

.PHONY: cluster-up
cluster-up: cluster-build ## Start the single-node cluster (root; kubeconfig context mlops-local, Ingress on 127.0.0.1)
	bash scripts/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the cluster and remove its host leftovers (PURGE=1 also deletes its state: certificates, etcd, images)
	bash scripts/cluster/down.sh $(if $(filter 1,$(PURGE)),--purge)

.PHONY: cluster-status
cluster-status: ## Each cluster process, the node's readiness and the add-ons' pods
	bash scripts/cluster/status.sh

.PHONY: render
render: setup ## Write every phase's Kubernetes manifests for STACK (default prod) to OUT (default a temp dir)
	$(WITH_ENV) npm run --silent render -- --stack $(or $(filter-out local,$(STACK)),prod) $(if $(OUT),--out $(OUT))

.PHONY: preview
preview: setup ## The diff of every phase stack of STACK (RENDER=1: kubernetes without a cluster; UPDATE=1 records the baseline)
	$(WITH_ENV) npm run --silent preview -- --stack $(STACK) $(if $(RENDER),--render) $(if $(UPDATE),--update)

# ---------- tests and benchmarks ----------

.PHONY: test
test: test-setup ## Every test: unit, Python, integration, end-to-end, the local cluster (root; skipped with the reason elsewhere)
	bash scripts/test.sh all

.PHONY: test-unit
test-unit: deps venv ## Unit tests (vitest with Pulumi mocks) and type checks
	bash scripts/test.sh unit

.PHONY: test-integration
test-integration: test-setup ## Integration tests against real PostgreSQL, SeaweedFS, MLflow, Docker, Pulumi
	bash scripts/test.sh integration

.PHONY: test-e2e
test-e2e: test-setup ## End-to-end: `make pipeline` on the local stack, reruns, a failing selection
	bash scripts/test.sh e2e

.PHONY: test-cluster
test-cluster: deps test-docker-images ## The local cluster for real (root): build (cached), up, the prod path on it, down; skips with the reason where it cannot run (fails in CI)
	bash scripts/test.sh cluster

.PHONY: services-up
services-up: deps venv ## Start real PostgreSQL, SeaweedFS (S3) and MLflow on loopback, as the integration tests use them
	bash scripts/services/all.sh start

.PHONY: services-down
services-down: ## Stop the services started by services-up
	bash scripts/services/all.sh stop

.PHONY: services-status
services-status: ## Show the test services and their ports
	bash scripts/services/all.sh status

# wrk (the load generator of bench-serve) comes from Debian; as root no sudo is needed.
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: bench-serve
bench-serve: deps venv ## Our model server against `mlflow models serve` on a random forest and an XGBoost model, same cores (prints serve_speedup_c32=...)
	@$(AS_ROOT) bash scripts/packages.sh install bench
	.venv/bin/python bench/serveBench.py

.PHONY: bench-select
bench-select: test-setup ## Time champion selection over a 10,000-run study (prints select_10k_median_s=...)
	npx tsx bench/selectBench.ts

# Benchmarks print numbers (medians, ratios) and assert nothing: they are not tests, so neither `make test`
# nor CI runs them. `make bench` runs every one in turn; each prints its figures as its last lines.
.PHONY: bench
bench: ## Every benchmark, one after the other (serve, search, select); not part of make test or CI
	$(MAKE) --no-print-directory bench-serve
	$(MAKE) --no-print-directory bench-search
	$(MAKE) --no-print-directory bench-select

.PHONY: bench-search
bench-search: ## Shared trial queue speedup (1 vs 2 workers) and grid vs TPE vs TPE + pruning (prints train_speedup_2w=, search_fold_fit_ratio=)
	bash scripts/python-env.sh
	.venv/bin/python bench/search_bench.py
