# kubelicense — see README.md. `make help` lists the targets.

# The release: the chart's version and appVersion, the image tag and the kubectl
# plugin's archives follow it (test/config checks that they agree).
VERSION ?= 0.1.0
IMG ?= ghcr.io/kubelicense/kubelicense:v$(VERSION)
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
HELM_VERSION ?= v3.22.0
# promtool checks and unit-tests config/prometheus (Prometheus 3.16's Go module version).
PROMTOOL_VERSION ?= v0.316.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm
PROMTOOL ?= $(LOCALBIN)/promtool
GINKGO_FLAGS ?=
CHART ?= charts/kubelicense
# Where `make installer` writes the plain-manifest installation.
INSTALLER ?= dist/install.yaml
# The kubectl-license release archives, one per krew platform (plugins/license.yaml).
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
PLUGIN_DIST ?= dist/plugin

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the kubebuilder markers (and copy them, and the alerts, into the chart).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@# The chart renders these copies, so it grants and installs exactly what config/ does.
	rm -rf $(CHART)/files/crds $(CHART)/files/rbac
	mkdir -p $(CHART)/files/crds $(CHART)/files/rbac
	cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/*role.yaml $(CHART)/files/rbac/
	mkdir -p $(CHART)/files/prometheus
	cp config/prometheus/alerts.yaml $(CHART)/files/prometheus/

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build (once, cached outside the repo) kube-apiserver and etcd; print their directory.
	@hack/envtest-assets.sh

.PHONY: test
test: manifests generate fmt vet helm kustomize promtool ## Unit tests, envtest suites and test/e2e (needs kubectl) against a real kube-apiserver and etcd.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test ./... -coverprofile cover.out $(GINKGO_FLAGS)

.PHONY: demo
demo: build manifests ## Run the main job on an embedded local control plane (DEMO_KEEP=1 keeps it running).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go run ./hack/demo

.PHONY: bench
bench: manifests ## Benchmarks: issuance and a same-second expiry wave against a do-nothing baseline with 1-8 workers (N=1000; BENCH_LICENSEES, BENCH_ROUNDS, BENCH_WORKERS).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test ./test/bench/ -run '^$$' -bench 'IssuanceVsBaseline|ExpiryWave' -benchtime 1x -timeout 90m -v

.PHONY: bench-scale
bench-scale: manifests ## Benchmarks: manager RSS and restart re-sync, as a process of its own, with 10,000 Licensees and 1,000 unrelated 512 KiB Secrets (BENCH_LICENSEES, BENCH_SECRETS).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" BENCH_LICENSEES=$${BENCH_LICENSEES:-10000} BENCH_SECRETS=$${BENCH_SECRETS:-1000} \
	  go test ./test/bench/ -run '^$$' -bench 'ManagerMemory' -benchtime 1x -timeout 90m -v

BENCH_API ?= LicenseAPI
.PHONY: bench-api
bench-api: manifests ## Benchmarks: license API validate, seats and 1000-holder soak against bare net/http and object updates (BENCH_API=LicenseAPI/Validate for one).
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test ./test/bench/ -run '^$$' -bench '$(BENCH_API)' -benchtime 1x -timeout 60m -v

.PHONY: bench-verify
bench-verify: $(LOCALBIN) ## Benchmarks: license.Verify, and every JOSE library and claims decoder, against ed25519.Verify.
	GOMAXPROCS=1 go test ./pkg/license/ -run '^$$' -bench 'Verify$$|VerifyParts' -benchmem -count 10
	cd test/bench/joselibs && go test -c -o $(LOCALBIN)/joselibs.test . && \
	  for i in $$(seq 15); do GOMAXPROCS=1 $(LOCALBIN)/joselibs.test -test.run '^$$' -test.bench . -test.benchmem; done

##@ Build

.PHONY: build
build: generate fmt vet ## Build the binaries into bin/.
	go build -o $(LOCALBIN)/ ./cmd/...

.PHONY: run
run: manifests generate ## Run the manager against the cluster in your kubeconfig.
	go run ./cmd/manager

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

.PHONY: build-installer
build-installer: manifests generate installer ## Render dist/install.yaml (CRDs, RBAC, manager) for IMG.

# installer renders $(INSTALLER) from config/ as it is, with the image set to IMG
# in a copy of config/, so the committed kustomization keeps its placeholder.
.PHONY: installer
installer: kustomize
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  cp -R config "$$tmp/" && \
	  (cd "$$tmp/config/manager" && $(KUSTOMIZE) edit set image controller=$(IMG)) && \
	  $(KUSTOMIZE) build "$$tmp/config/default" > "$$tmp/install.yaml" && \
	  mkdir -p "$$(dirname $(INSTALLER))" && mv "$$tmp/install.yaml" $(INSTALLER)

.PHONY: helm-lint
helm-lint: manifests helm ## Lint the chart with its defaults and with every optional part on.
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f $(CHART)/ci/all-optional-values.yaml

# One archive per krew platform: kubectl-license_v<VERSION>_<os>_<arch>.tar.gz
# holding kubectl-license (kubectl-license.exe on Windows).
plugin_os = $(word 1,$(subst /, ,$(1)))
plugin_arch = $(word 2,$(subst /, ,$(1)))
plugin_bin = kubectl-license$(if $(filter windows,$(call plugin_os,$(1))),.exe)
define plugin_archive
	rm -rf $(PLUGIN_DIST)/tmp && mkdir -p $(PLUGIN_DIST)/tmp
	CGO_ENABLED=0 GOOS=$(call plugin_os,$(1)) GOARCH=$(call plugin_arch,$(1)) go build -trimpath -ldflags="-s -w" -o $(PLUGIN_DIST)/tmp/$(call plugin_bin,$(1)) ./cmd/kubectl-license
	tar -C $(PLUGIN_DIST)/tmp -czf $(PLUGIN_DIST)/kubectl-license_v$(VERSION)_$(call plugin_os,$(1))_$(call plugin_arch,$(1)).tar.gz $(call plugin_bin,$(1))
	rm -r $(PLUGIN_DIST)/tmp

endef

.PHONY: plugin-archives
plugin-archives: ## The kubectl-license release archives that plugins/license.yaml names, and their SHA256SUMS, in dist/plugin/.
	rm -rf $(PLUGIN_DIST) && mkdir -p $(PLUGIN_DIST)
	$(foreach p,$(PLUGIN_PLATFORMS),$(call plugin_archive,$(p)))
	cd $(PLUGIN_DIST) && sha256sum *.tar.gz | tee SHA256SUMS

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster in your kubeconfig.
	kubectl apply --server-side -f config/crd/bases

.PHONY: deploy
deploy: build-installer ## Deploy the operator to the cluster in your kubeconfig.
	kubectl apply --server-side -f dist/install.yaml

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN): | $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE): | $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: helm
helm: $(HELM)
$(HELM): | $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v3/cmd/helm,$(HELM_VERSION))

.PHONY: promtool
promtool: $(PROMTOOL)
$(PROMTOOL): | $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMTOOL_VERSION))

# go-install-tool installs a versioned tool into bin/ and links the plain name to it,
# so a version bump in this file installs the new version.
define go-install-tool
@[ -f "$(1)-$(3)" ] || { \
set -e; \
echo "Installing $(2)@$(3)"; \
rm -f $(1) || true; \
GOBIN=$(LOCALBIN) GOFLAGS= go install $(2)@$(3); \
mv $(1) $(1)-$(3); \
}; \
ln -sf $$(basename $(1)-$(3)) $(1)
endef
