//go:build tools

// Package tools pins the helm binary built for the e2e tests, so `go mod tidy` keeps it.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
