//go:build tools

// Package tool pins govulncheck's module so that `go mod download` here
// fetches what `go install golang.org/x/vuln/cmd/govulncheck@VERSION`
// needs: the local engine's containers get modules from this machine's
// module cache.
package tool

import _ "golang.org/x/vuln/cmd/govulncheck"
