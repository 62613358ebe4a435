package hostcache

import (
	"path/filepath"
	"syscall"
	"testing"
)

// A directory that does not exist yet is measured at its nearest existing
// parent, with the same figure statfs gives there.
func TestFreeWalksUpToAnExistingParent(t *testing.T) {
	root := t.TempDir()
	dir, free, err := Free(filepath.Join(root, "not", "yet", "created"))
	if err != nil {
		t.Fatal(err)
	}
	if dir != root {
		t.Errorf("measured %s, want the existing parent %s", dir, root)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		t.Fatal(err)
	}
	want := st.Bavail * uint64(st.Bsize)
	// Other processes write meanwhile: allow 64 MiB of drift, not more.
	if diff := int64(free) - int64(want); diff > 64<<20 || diff < -64<<20 || free == 0 {
		t.Errorf("free = %d, statfs says %d", free, want)
	}
}

// $SLIPWAY_CACHE wins; otherwise the XDG cache directory, then $HOME/.cache.
func TestDir(t *testing.T) {
	t.Setenv("SLIPWAY_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, err := Dir(); d != "/xdg/slipway" || err != nil {
		t.Errorf("with XDG_CACHE_HOME: %s, %v", d, err)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/home/someone")
	if d, err := Dir(); d != "/home/someone/.cache/slipway" || err != nil {
		t.Errorf("with HOME only: %s, %v", d, err)
	}
	t.Setenv("SLIPWAY_CACHE", "/explicit")
	if d, err := Dir(); d != "/explicit" || err != nil {
		t.Errorf("with SLIPWAY_CACHE: %s, %v", d, err)
	}
}
