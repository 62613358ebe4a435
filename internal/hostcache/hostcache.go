// Package hostcache is slipway's cache on this host, which the engine, the
// control plane and the CI runners share: where it lives, and how much room
// is left there before a cold build starts filling it (a build that runs
// out of space half-way leaves a broken cache behind).
package hostcache

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Dir is $SLIPWAY_CACHE (which the Makefile sets), else the user's cache
// directory (${XDG_CACHE_HOME:-$HOME/.cache}) + "/slipway".
func Dir() (string, error) {
	if dir := os.Getenv("SLIPWAY_CACHE"); dir != "" {
		return dir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding the cache directory: set SLIPWAY_CACHE, XDG_CACHE_HOME or HOME: %w", err)
	}
	return filepath.Join(base, "slipway"), nil
}

// Free returns the bytes an unprivileged write may use on the file system
// that holds dir, and the directory it measured: dir itself, or its nearest
// existing parent when dir is not created yet.
func Free(dir string) (measured string, free uint64, err error) {
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return dir, 0, fmt.Errorf("checking free disk at %s: %w", dir, err)
	}
	return dir, st.Bavail * uint64(st.Bsize), nil
}
