# airflow-kit: the README's commands. `make setup`, `make up`, `make dag`, `make down`; `make test`.
STACK ?=
CLUSTER ?= auto
DAG ?= kit_kubernetes_teams
PYTHON ?= python3
VENV := .venv
# A folder of packaged charts (an air-gapped mirror); this project's live beside the checkout.
CHARTS_FROM ?= $(abspath ../shared/reference/charts)
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?=
export PULUMI_SKIP_UPDATE_CHECK := true
# Tools built by `make setup`/`make tools` come first when present (no effect otherwise).
ifneq ($(wildcard $(CURDIR)/.tools/bin/pulumi),)
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
endif
KIT = @test -x $(VENV)/bin/python || { echo "airflow-kit: no $(VENV) here: run \`make setup\` first" >&2; exit 2; }; \
	$(VENV)/bin/python -m repo_tools.cli
STACK_ARG = $(if $(STACK),--stack $(STACK))
# `make test` runs its tiers in this many pytest-xdist workers: most tiers wait on pods and
# schedulers, so three lanes share the 2-core machine: the real node's (realnode and faults, on
# one stack) and two for the rest, at nice 5 (tests/conftest.py) (1: one process, in tier order).
TEST_LANES ?= 3

.PHONY: setup up dag credentials down preview destroy test test-faults tools worker-images bench bench-smoke docs

setup: ## .venv, the chart, the Pulumi toolchain, and the kit's local node when no cluster answers
	PYTHON=$(PYTHON) CHARTS_FROM=$(CHARTS_FROM) scripts/setup.sh

up: ## pulumi up of STACK (default: local on your cluster, local-node on the kit's node when none answers)
	$(KIT) up $(STACK_ARG) --cluster $(CLUSTER)

dag: ## trigger DAG through Airflow's REST API and follow its run to the end
	$(KIT) dag $(DAG) $(STACK_ARG)

credentials: ## the web admin's user and password
	$(KIT) credentials $(STACK_ARG)

down: ## destroy the deployed stack; stop the kit's local node and undo its host changes
	$(KIT) down $(STACK_ARG)

preview:
	pulumi stack select --create $(or $(STACK),local)
	pulumi preview --stack $(or $(STACK),local) --diff

destroy: ## destroy the stack only (the kit's node keeps running)
	pulumi destroy --stack $(or $(STACK),local) --yes

test: ## every test tier in TEST_LANES parallel lanes; live tiers skip with a reason when their tools or cluster are absent
	$(VENV)/bin/python -m pytest --durations=25 $(if $(filter-out 1,$(TEST_LANES)),-n $(TEST_LANES) --no-loadscope-reorder)

test-faults: ## the fault tier alone: real crashes on the kit's real node with work in flight (tests/faults)
	$(VENV)/bin/python -m pytest -m faults

tools: ## build pulumi, its plugins, the control plane, kwok, helm and the real schedulers from Go modules into .tools/bin
	scripts/tools.sh

worker-images: ## render the fused worker image build contexts of STACK into build/worker-images
	$(VENV)/bin/python -m airflow_kit_platform.workloads.worker_image --stack $(or $(STACK),local) --out build/worker-images

bench: ## the scheduling benchmark (1,000 kwok nodes, 10,000 pods, every backend and its stock baseline; ~1 h on 2 cores) and Airflow's side; results in bench/results/full
	$(VENV)/bin/python -m bench
	$(VENV)/bin/python -m bench.airflow_side

bench-smoke: ## the same at CI size (50 nodes, 500 pods); results in bench/results/smoke
	$(VENV)/bin/python -m bench --smoke
	$(VENV)/bin/python -m bench.airflow_side --smoke

docs: ## regenerate the README's "Stack switches" table and Pulumi.yaml's config block from components/args.py
	$(VENV)/bin/python -m repo_tools.stack_docs
