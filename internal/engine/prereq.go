package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/internal/hostcache"
)

// PrereqError is a missing prerequisite: what is wrong, and what to do.
type PrereqError struct {
	Problem string
	Fix     string
}

// Error prints the problem, then the fix on its own line.
func (e *PrereqError) Error() string { return e.Problem + "\n  fix: " + e.Fix }

// CheckHost checks everything the engine needs from the host before
// anything is built: the OS and architecture, root, overlayfs, namespaces
// and free disk. All failures are reported at once.
func (e *Engine) CheckHost(ctx context.Context) error {
	need := uint64(2 << 30)
	if _, err := os.Stat(filepath.Join(e.BinDir(), "dagger-engine")); err != nil {
		need = e.minFree // a cold build needs room for Go caches and images
	}
	fs, _ := os.ReadFile("/proc/filesystems")
	errs := []error{
		checkPlatform(runtime.GOOS, runtime.GOARCH),
		checkRoot(os.Geteuid()),
		checkOverlay(string(fs)),
		checkDisk(e.cache, need),
	}
	if errs[0] == nil && errs[1] == nil {
		errs = append(errs, checkNamespaces(ctx))
	}
	return errors.Join(errs...)
}

func checkPlatform(goos, goarch string) error {
	if goos != "linux" {
		return &PrereqError{
			Problem: fmt.Sprintf("unsupported operating system %s: the air-gapped engine runs the Dagger engine directly on a Linux kernel", goos),
			Fix:     "run `make engine` on a Linux host or VM (amd64 or arm64); on macOS or Windows use Dagger's own engine with a registry",
		}
	}
	switch goarch {
	case "amd64", "arm64":
		return nil
	}
	return &PrereqError{
		Problem: fmt.Sprintf("unsupported architecture %s: the air-gapped engine builds its images for linux/amd64 and linux/arm64 only (Debian and Dagger binaries for those)", goarch),
		Fix:     "run `make engine` on an amd64 or arm64 Linux host",
	}
}

func checkRoot(euid int) error {
	if euid == 0 {
		return nil
	}
	return &PrereqError{
		Problem: fmt.Sprintf("not root (uid %d): the engine needs root to create mount/network/PID namespaces, overlay mounts and CNI networks", euid),
		Fix:     "run it as root: `sudo make engine` (CI runs as root already)",
	}
}

func checkOverlay(procFilesystems string) error {
	for _, line := range strings.Split(procFilesystems, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
			return nil
		}
	}
	return &PrereqError{
		Problem: "overlayfs is not available (no \"overlay\" in /proc/filesystems): the engine's snapshots and the overlays that keep /etc, /usr/local and /var/lib untouched need it",
		Fix:     "load it with `modprobe overlay`, or use a kernel built with CONFIG_OVERLAY_FS (any stock Debian/Ubuntu kernel); inside a container, run that container --privileged",
	}
}

// checkDisk wants need bytes free on the file system holding dir (or its
// nearest existing parent, before the first build creates it).
func checkDisk(dir string, need uint64) error {
	dir, free, err := hostcache.Free(dir)
	if err != nil {
		return err
	}
	if free >= need {
		return nil
	}
	return diskError(dir, free, need)
}

func diskError(dir string, free, need uint64) error {
	return &PrereqError{
		Problem: fmt.Sprintf("too little disk: %.1f GiB free at %s, the engine needs %.1f GiB (binaries, images, Go caches and engine state)", gib(free), dir, gib(need)),
		Fix:     "free some space there, or point the cache at a larger disk: XDG_CACHE_HOME=/big/disk make engine",
	}
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }

// checkNamespaces tries exactly the unshare the engine start uses.
func checkNamespaces(ctx context.Context) error {
	if _, err := exec.LookPath("unshare"); err != nil {
		return &PrereqError{
			Problem: "unshare is not installed: it creates the engine's private namespaces",
			Fix:     "apt-get install util-linux",
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "--mount", "--net", "--pid", "--fork", "--propagation", "private", "true").CombinedOutput()
	if err == nil {
		return nil
	}
	return &PrereqError{
		Problem: fmt.Sprintf("cannot create mount, network and PID namespaces (unshare: %s): the engine runs in its own namespaces so that the host's /etc, /run, routes and iptables stay untouched", strings.TrimSpace(string(out))+" "+err.Error()),
		Fix:     "run on a host or VM where root may create namespaces; inside a container, start it with --privileged (or at least CAP_SYS_ADMIN and CAP_NET_ADMIN and no seccomp filter on unshare/mount)",
	}
}

// checkSocketFree fails when something other than our engine listens on
// the socket path (for example an engine started from another checkout with
// the same instance directory but a stale pid file).
func checkSocketFree(path string) error {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		// Nobody listens: a leftover file from a crash is safe to remove.
		if rmErr := os.Remove(path); rmErr != nil && !os.IsNotExist(rmErr) {
			return fmt.Errorf("removing stale socket %s: %w", path, rmErr)
		}
		return nil
	}
	c.Close()
	return &PrereqError{
		Problem: fmt.Sprintf("socket %s is busy: another process listens on it, but it is not the engine this instance started", path),
		Fix:     "stop that process (`fuser " + path + "` names it), or run `make engine-down`, or use another instance directory",
	}
}

// Listen listens on addr, and names a busy port and its fix when it cannot.
// The mirror's ports live in the engine's private network namespace, so they
// can only be busy when something else was started in that namespace.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &PrereqError{
			Problem: fmt.Sprintf("port %s is busy: %v", addr, err),
			Fix:     "stop what listens there (`ss -ltnp 'sport = :" + portOf(addr) + "'` names it) or choose another port",
		}
	}
	return l, nil
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return p
}
