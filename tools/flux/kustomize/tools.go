//go:build tools

// Package tools keeps the controller's main package in go.mod and go.sum (go mod tidy).
package tools

import _ "github.com/fluxcd/kustomize-controller"
