// Package slipway is slipway's own source, as its stage packages need it at
// run time: stage/kube builds the deploy tool (cmd/slipway-deploy) and the
// evidence tool (cmd/slipway-evidence) from it inside Dagger, so a team that imports a stage, or installs slipway's
// Dagger module, needs no copy of slipway's code and no registry that
// serves the tool.
//
// The library itself lives in the packages below: pipeline (the model and
// the CI file generators), stage (the Dagger stages), deploy (Kubernetes),
// and the commands under cmd.
package slipway

import "embed"

// ToolSource holds go.mod, go.sum and the packages cmd/slipway-deploy and
// cmd/slipway-evidence are built from. Go's module settings (GOPROXY and friends) decide where the
// dependencies come from when it is built.
//
//go:embed go.mod go.sum cmd/slipway-deploy cmd/slipway-evidence deploy pipeline/*.go
var ToolSource embed.FS

// ToolPackage is the deploy tool's main package in ToolSource.
const ToolPackage = "./cmd/slipway-deploy"

// EvidenceToolPackage is the evidence tool's main package in ToolSource:
// attest and record-scan, without Kubernetes, so that the build and scan
// stages do not compile the deploy tool on an engine that starts empty.
const EvidenceToolPackage = "./cmd/slipway-evidence"
