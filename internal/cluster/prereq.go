package cluster

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"

	"github.com/slipway-ci/slipway/internal/hostcache"
)

// PrereqError is a missing prerequisite: what is wrong, and what to do.
type PrereqError struct {
	Problem string
	Fix     string
}

// Error prints the problem, then the fix on its own line.
func (e *PrereqError) Error() string { return e.Problem + "\n  fix: " + e.Fix }

func checkGo() error {
	if _, err := exec.LookPath("go"); err != nil {
		return &PrereqError{
			Problem: "the go command is not on PATH: the control plane is built from the Go module proxy",
			Fix:     "install Go 1.25 or newer (https://go.dev/dl) and put it on PATH",
		}
	}
	return nil
}

// checkDisk wants need bytes free on the file system holding dir (or its
// nearest existing parent, before the first build creates it).
func checkDisk(dir string, need uint64) error {
	dir, free, err := hostcache.Free(dir)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if free < need {
		return &PrereqError{
			Problem: fmt.Sprintf("too little disk: %.1f GiB free at %s, the control plane needs %.1f GiB (binaries, Go build cache, etcd data)", float64(free)/(1<<30), dir, float64(need)/(1<<30)),
			Fix:     "free some space there, or point the cache at a larger disk: XDG_CACHE_HOME=/big/disk make cluster",
		}
	}
	return nil
}

// checkPort fails when something already listens on host:port.
func checkPort(host string, port int, what string) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err == nil {
		l.Close()
		return nil
	}
	return &PrereqError{
		Problem: fmt.Sprintf("port %s for %s is busy: %v", addr, what, err),
		Fix:     fmt.Sprintf("stop what listens there (`ss -ltnp 'sport = :%d'` names it; `make cluster-down` if it is a control plane from another instance), or choose other ports", port),
	}
}

var insecureTransport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // health probes of local self-signed endpoints
