// Package diskspace says how much disk is free where the engine and the
// control plane keep their caches, before they start filling it: a cold
// build that runs out of space half-way leaves a broken cache behind.
package diskspace

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

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
