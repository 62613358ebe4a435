package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	sdk "dagger.io/dagger"
	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/ci/internal/dagger"
	"github.com/slipway-ci/slipway/stage/trivy"
)

// Ci runs the reference pipeline's build, test and scan stages in one
// call, in the order of the DAG and in parallel where it allows: build,
// then publish (to the local default registry unless a repository is
// given), test-unit and security-sast beside it; then test-integration and
// security-trivy on the published digest. Its reports hold each stage's
// under unit/, integration/, trivy/ and sast/; check fails when a stage
// that may not fail did (security-sast may, as in the CI files). Cached for
// an hour, like security-trivy, whose scan it runs.
//
// +cache="1h"
func (m *Slipway) Ci(
	ctx context.Context,
	// The repository root.
	// +defaultPath="/"
	// +ignore=[".git", ".slipway", "reports", "bin"]
	source *dagger.Directory,
	// The commit, recorded in the image's labels.
	// +optional
	revision string,
	// The image's creation time (RFC 3339 or Unix seconds).
	// +optional
	created string,
	// Where to push; default: a registry served in this session.
	// +optional
	repository string,
	// The registry user.
	// +optional
	username string,
	// The registry password.
	// +optional
	password *dagger.Secret,
	// Talk plain HTTP to the registry.
	// +optional
	insecure bool,
	// Where Trivy downloads its DB; see security-trivy.
	// +optional
	dbRepository string,
	// Fetch the Trivy DB over plain HTTP.
	// +optional
	dbInsecure bool,
) (*Verdict, error) {
	c, err := client(ctx)
	if err != nil {
		return nil, err
	}
	var pw *sdk.Secret
	if password != nil {
		if pw, err = toSecret(ctx, c, password); err != nil {
			return nil, err
		}
	}
	type stage struct {
		name    string
		verdict *Verdict
		took    time.Duration
	}
	var (
		mu      sync.Mutex
		results []stage
	)
	record := func(name string, start time.Time, v *Verdict) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, stage{name, v, time.Since(start).Round(100 * time.Millisecond)})
	}
	g, gctx := errgroup.WithContext(ctx)

	g.Go(func() error {
		start := time.Now()
		v, err := m.TestUnit(gctx, source, nil)
		if err != nil {
			return err
		}
		record("unit", start, v)
		return nil
	})
	g.Go(func() error {
		start := time.Now()
		v, err := m.SecuritySast(gctx, source, nil, false)
		if err != nil {
			return err
		}
		record("sast", start, v)
		return nil
	})
	g.Go(func() error {
		start := time.Now()
		imgs, err := m.images(gctx, source, revision, created, nil)
		if err != nil {
			return err
		}
		ref, err := publish(gctx, c, imgs, repository, username, pw, revision, insecure)
		if err != nil {
			return err
		}
		record("publish "+ref, start, &Verdict{Summary: ref})
		// The published bytes are the built container's: the later stages
		// use it directly, named by its digest, so they also work with the
		// session's own registry, which the engine cannot pull from.
		img := imgs[0]
		inner, ictx := errgroup.WithContext(gctx)
		inner.Go(func() error {
			start := time.Now()
			v, err := m.integration(ictx, source, img)
			if err != nil {
				return err
			}
			record("integration", start, v)
			return nil
		})
		inner.Go(func() error {
			start := time.Now()
			opts := []trivy.Option{}
			if dbRepository != "" {
				opts = append(opts, trivy.WithDBRepository(dbRepository))
			}
			if dbInsecure {
				opts = append(opts, trivy.WithInsecureRegistry())
			}
			res, err := trivy.ScanContainer(ictx, c, img, ref, opts...)
			if err != nil {
				return fmt.Errorf("security-trivy: %w", err)
			}
			reports, err := fromDir(ictx, res.Reports)
			if err != nil {
				return err
			}
			v := &Verdict{Reports: reports, Summary: fmt.Sprintf("%d HIGH/CRITICAL vulnerabilities", len(res.Findings))}
			if p := res.Problem(); p != "" {
				v.Problem = "security-trivy: " + p
			}
			// As security-trivy does: production's gate reads the scan
			// next to the image. An image in this session's own registry
			// is gone when the call ends, and its evidence with it.
			if repository != "" {
				v.Summary += "; " + recordScan(ictx, ref, len(res.Findings), username, password)
			} else {
				v.Summary += "; scan evidence not recorded: the image is only in this session's registry (pass --repository)"
			}
			record("trivy", start, v)
			return nil
		})
		return inner.Wait()
	})
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("ci: %w", err)
	}

	out := &Verdict{Reports: dag.Directory()}
	var lines, problems []string
	for _, r := range results {
		if r.verdict.Reports != nil {
			out.Reports = out.Reports.WithDirectory(r.name, r.verdict.Reports)
		}
		status := "ok"
		if r.verdict.Problem != "" {
			status = "FAILED"
			if r.name != "sast" {
				problems = append(problems, r.verdict.Problem)
			} else {
				status = "findings (allowed to fail)"
			}
		}
		lines = append(lines, fmt.Sprintf("%-12s %-28s %8s  %s", strings.Fields(r.name)[0], status, r.took, r.verdict.Summary))
	}
	out.Summary = strings.Join(lines, "\n")
	fmt.Println(out.Summary)
	out.Problem = strings.Join(problems, "\n")
	return out, nil
}
