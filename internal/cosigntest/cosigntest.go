// Package cosigntest gives tests the real cosign CLI, built from the Go
// module proxy (`go install github.com/sigstore/cosign/v3/cmd/cosign@
// Version`) with this host's Go, once, under slipway's host cache; or stops
// the test the e2e way when it cannot be built here.
//
// It proves that what deploy/attest signs is what cosign verifies: the
// tests run `cosign verify` and `cosign verify-attestation` on it.
package cosigntest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/hostcache"
)

// Version is the cosign built: v3, whose `sign` and `attest` store
// Sigstore bundles as OCI referrers and whose `verify --key
// --insecure-ignore-tlog` checks them offline. Its go.mod asks for Go
// 1.26; it runs on the host only, never inside Dagger.
const Version = "v3.1.3"

var (
	once sync.Once
	bin  string
	err  error
)

// Binary returns the path of the cosign binary.
func Binary(t testing.TB) string {
	t.Helper()
	once.Do(func() { bin, err = build() })
	if err != nil {
		e2e.Unavailable(t, err)
	}
	return bin
}

func build() (string, error) {
	cache, err := hostcache.Dir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "cosign", Version)
	out := filepath.Join(dir, "cosign")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "-trimpath", "-ldflags", "-s -w", "github.com/sigstore/cosign/v3/cmd/cosign@"+Version)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building cosign %s from the module proxy (it needs Go 1.26 or newer here): %v\n%s", Version, err, tail(log.String()))
	}
	if err := os.Rename(filepath.Join(tmp, "cosign"), out); err != nil {
		return "", err
	}
	return out, nil
}

func tail(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > 30 {
		l = l[len(l)-30:]
	}
	return strings.Join(l, "\n")
}

// Run runs cosign with args (and env added to this process's), offline:
// no TUF root, Rekor or Fulcio is fetched for key-based verification.
// It returns the combined output and the error of a non-zero exit.
func Run(t testing.TB, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Env = append(os.Environ(), "TUF_ROOT="+t.TempDir(), "SIGSTORE_NO_CACHE=true")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
