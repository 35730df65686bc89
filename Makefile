# airflow-kit: the README's commands. `make setup`, then `make up` (stack local) and `make test`.
STACK ?= local
PYTHON ?= python3
VENV := .venv
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state
export PULUMI_CONFIG_PASSPHRASE ?=
export PULUMI_SKIP_UPDATE_CHECK := true
# Tools built by `make tools` come first when present (no effect otherwise).
ifneq ($(wildcard $(CURDIR)/.tools/bin/pulumi),)
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION := true
endif

.PHONY: setup up preview destroy test tools worker-images

setup: ## virtualenv with the pinned program and test dependencies
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-test.txt -c constraints.txt
	mkdir -p .pulumi-state

up: ## pulumi up of $(STACK) with a local state backend (needs the pulumi CLI and a kubeconfig)
	pulumi stack select --create $(STACK)
	pulumi up --stack $(STACK) --yes

preview:
	pulumi stack select --create $(STACK)
	pulumi preview --stack $(STACK) --diff

destroy:
	pulumi destroy --stack $(STACK) --yes

test: ## every test tier; live tiers skip with a reason when their tools or cluster are absent
	$(VENV)/bin/python -m pytest

tools: ## build pulumi, its plugins, the control plane, kwok, helm and the real schedulers from Go modules into .tools/bin
	scripts/tools.sh

worker-images: ## render the fused worker image build contexts of $(STACK) into build/worker-images
	$(VENV)/bin/python -m components.workloads.worker_image --stack $(STACK) --out build/worker-images
