// Package vulndbtest gives tests the real Go vulnerability database
// (golang.org/x/vulndb at vulndb.DefaultVersion, from the module proxy),
// built once under slipway's host cache, or stops the test the e2e way
// when the proxy cannot serve it.
package vulndbtest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/hostcache"
	"github.com/slipway-ci/slipway/stage/govulncheck/vulndb"
)

var (
	once  sync.Once
	dir   string
	stats vulndb.Stats
	err   error
)

// Dir returns the database directory and its stats.
func Dir(t testing.TB) (string, vulndb.Stats) {
	t.Helper()
	once.Do(func() {
		var cache string
		if cache, err = hostcache.Dir(); err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		dir, stats, err = vulndb.Build(ctx, filepath.Join(cache, "vulndb"), vulndb.DefaultVersion)
	})
	if err != nil {
		e2e.Unavailable(t, err)
	}
	return dir, stats
}
