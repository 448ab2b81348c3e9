# e2e level: the gate as a real kube-apiserver's validating webhook (docs/e2e.md).
#
# `make e2e`      builds kube-apiserver, kubectl, etcd, helm and Flux's source-controller and
#                 kustomize-controller from pinned Go modules (once, cached under $(CACHE)/bin),
#                 installs Debian's prometheus and prometheus-alertmanager (once), starts etcd +
#                 kube-apiserver + the gate on loopback and runs tests/e2e: kubectl, a Flux sync
#                 from a loopback git server, Prometheus + Alertmanager on the chart's rules.
#                 No Docker needed. In CI it must run, never skip.
# `make kind-e2e` the same tests against a kind cluster with the chart installed (needs Docker).

E2E_ENV := $(CACHE)/e2e-tools.env
KIND_CLUSTER ?= migration-gate-e2e
KIND_IMAGE ?= migration-gate:e2e
KIND_NAMESPACE ?= migration-gate

.PHONY: e2e-tools e2e kind-e2e

# Writes MG_KUBE_APISERVER / MG_KUBECTL / MG_ETCD / MG_HELM, MG_FLUX_SOURCE_CONTROLLER /
# MG_FLUX_KUSTOMIZE_CONTROLLER / MG_FLUX_CRDS and MG_PROMETHEUS / MG_ALERTMANAGER / MG_PROMTOOL
# =<path> lines; fails loudly if a build or install fails (each line of a recipe is checked), so
# CI never reaches pytest with a tool missing.
e2e-tools:
	@mkdir -p $(CACHE)
	tools/k8s/build.sh > $(E2E_ENV).tmp
	tools/flux/build.sh >> $(E2E_ENV).tmp
	tools/monitoring/install.sh >> $(E2E_ENV).tmp
	@mv -f $(E2E_ENV).tmp $(E2E_ENV)

# MG_E2E_REQUIRED=1: a missing tool is a failure, not a skip, whenever e2e runs via make.
e2e: $(STAMP) e2e-tools
	@set -euo pipefail; set -a; . $(E2E_ENV); set +a; \
	  export MG_E2E_REQUIRED=1; unset KUBECONFIG; \
	  PATH="$$(dirname $$MG_KUBECTL):$$(dirname $$MG_HELM):$$PATH" \
	  $(BIN)/pytest -q -m e2e -p no:cacheprovider tests/e2e

# For users with Docker + kind: the chart in a real cluster, the same tests via KUBECONFIG.
kind-e2e: $(STAMP) e2e-tools
	@set -euo pipefail; set -a; . $(E2E_ENV); set +a; \
	  for t in docker kind; do command -v $$t >/dev/null || \
	    { echo "kind-e2e needs $$t (and a running Docker engine); see docs/e2e.md" >&2; exit 1; }; done; \
	  kubeconfig="$(CACHE)/kind-$(KIND_CLUSTER).kubeconfig"; \
	  kind get clusters | grep -qx '$(KIND_CLUSTER)' || \
	    kind create cluster --name '$(KIND_CLUSTER)' --config kind-config.yaml --wait 120s; \
	  kind get kubeconfig --name '$(KIND_CLUSTER)' > "$$kubeconfig"; \
	  docker build -t '$(KIND_IMAGE)' .; \
	  kind load docker-image '$(KIND_IMAGE)' --name '$(KIND_CLUSTER)'; \
	  "$$MG_HELM" upgrade --install migration-gate charts/migration-gate \
	    --kubeconfig "$$kubeconfig" --namespace '$(KIND_NAMESPACE)' --create-namespace \
	    --set image.repository='$(firstword $(subst :, ,$(KIND_IMAGE)))' \
	    --set image.tag='$(lastword $(subst :, ,$(KIND_IMAGE)))' \
	    --set image.pullPolicy=Never \
	    --set-file 'trustedKeys.signer\.pem=examples/keys/signer.TEST-ONLY.pub' \
	    --wait --timeout 5m; \
	  KUBECONFIG="$$kubeconfig" MG_E2E_REQUIRED=1 \
	  $(BIN)/pytest -q -m e2e -p no:cacheprovider tests/e2e

TEST_LEVELS += e2e
