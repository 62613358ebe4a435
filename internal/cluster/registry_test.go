package cluster_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/slipway-ci/slipway/internal/cluster"
	"github.com/slipway-ci/slipway/internal/engine"
)

// The cluster does not import the engine, so its default registry names
// the engine's layout by path: this checks they agree. engine.Namespace
// finds the engine's network namespace from the same pid file the node
// proxy reads.
func TestDefaultRegistryIsTheEngineMirror(t *testing.T) {
	cache := t.TempDir()
	r := cluster.DefaultRegistry(cache)
	if r.Host != engine.MirrorBridgeAddr || r.Addr != engine.MirrorAddr {
		t.Errorf("default registry %+v, want host %s reached at %s", r, engine.MirrorBridgeAddr, engine.MirrorAddr)
	}
	e, err := engine.New(engine.WithCacheDir(cache))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(r.PIDFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ns, err := engine.Namespace(e.Env())
	if err != nil {
		t.Fatalf("the engine does not find its namespace from %s: %v", r.PIDFile, err)
	}
	ns.Close()
}
