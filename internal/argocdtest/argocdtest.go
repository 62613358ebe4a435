// Package argocdtest finds or starts Argo CD (internal/argocd) on the local
// control plane for end-to-end tests. Where it cannot be had (not built:
// `make gitops` never ran), the test is skipped with the reason; with
// SLIPWAY_REQUIRE_E2E=1 it fails instead, so a missing controller can never
// pass as "skipped".
package argocdtest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/internal/argocd"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/e2e"
)

// ArgoCD is a running Argo CD, as a test sees it.
type ArgoCD struct {
	// Cluster is the control plane it manages.
	Cluster *clustertest.Cluster
	// Namespace holds its configuration, repositories and Applications.
	Namespace string
}

var (
	once   sync.Once
	shared *ArgoCD
	errShd error
)

// Require returns the running Argo CD, starting it when it is built but
// not running, or stops the test (Skip, or Fatal under SLIPWAY_REQUIRE_E2E=1).
func Require(t testing.TB) *ArgoCD {
	t.Helper()
	c := clustertest.Require(t)
	once.Do(func() {
		a, err := argocd.New(c.KubeconfigPath)
		if err != nil {
			errShd = err
			return
		}
		ctx := context.Background()
		if st := a.Status(ctx); !st.Running {
			if err := argocd.Prerequisites(); err != nil {
				errShd = fmt.Errorf("Argo CD cannot run here: %w", err)
				return
			}
			if !argocd.Built() {
				errShd = fmt.Errorf("Argo CD is not running (%s), and it is not built: run `make gitops` once (cold build: several minutes)", st.Reason)
				return
			}
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			if err := a.Up(ctx); err != nil {
				errShd = fmt.Errorf("starting Argo CD: %w", err)
				return
			}
		}
		shared = &ArgoCD{Cluster: c, Namespace: argocd.Namespace}
	})
	if errShd != nil {
		e2e.Unavailable(t, errShd)
	}
	return shared
}
