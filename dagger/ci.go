package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage/handover"
)

// Ci runs the build, test and scan stages in one call, in the order of the
// pipeline and in parallel where it allows: the image is built and pushed
// (to the session's own registry unless a repository is given) beside
// test-unit and security-sast; test-integration and security-trivy then
// take the built image. Its reports hold each stage's under unit/,
// integration/, trivy/ and sast/; check fails when a stage that may not
// fail did (security-sast may). Cached for an hour, like security-trivy.
//
// +cache="1h"
func (m *Slipway) Ci(
	ctx context.Context,
	// The commit, recorded in the image's labels.
	// +optional
	revision string,
	// The image's creation time (RFC 3339 or Unix seconds).
	// +optional
	created string,
	// Where to push; default: the repository setting, else a registry
	// served in this session.
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
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	s, err := m.resolve(ctx)
	if err != nil {
		return nil, fmt.Errorf("ci: %w", err)
	}
	pw, err := handover.To(ctx, password, c.LoadSecretFromID)
	if err != nil {
		return nil, err
	}
	if repository == "" {
		repository = m.Repository
	}
	type result struct {
		name    string
		verdict *Verdict
		took    time.Duration
	}
	var (
		mu      sync.Mutex
		results []result
	)
	record := func(name string, start time.Time, v *Verdict) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, result{name, v, time.Since(start).Round(100 * time.Millisecond)})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		start := time.Now()
		v, err := m.TestUnit(gctx)
		if err != nil {
			return err
		}
		record("unit", start, v)
		return nil
	})
	g.Go(func() error {
		start := time.Now()
		v, err := m.SecuritySast(gctx, false)
		if err != nil {
			return err
		}
		record("sast", start, v)
		return nil
	})
	g.Go(func() error {
		start := time.Now()
		imgs, err := m.images(gctx, c, s, revision, created, nil)
		if err != nil {
			return err
		}
		ref, err := publish(gctx, c, s, imgs, repository, username, pw, revision, insecure)
		if err != nil {
			return err
		}
		record("publish", start, &Verdict{Summary: ref})
		// The later stages use the built container itself, named by its
		// digest, so they also work with the session's own registry, which
		// the engine cannot pull from.
		img := imgs[0]
		inner, ictx := errgroup.WithContext(gctx)
		inner.Go(func() error {
			start := time.Now()
			v, err := m.integration(ictx, c, s, img, ref)
			if err != nil {
				return err
			}
			record("integration", start, v)
			return nil
		})
		inner.Go(func() error {
			start := time.Now()
			res, err := m.scan(ictx, c, ref, img, dbRepository, dbInsecure)
			if err != nil {
				return err
			}
			v, err := verdict(ictx, "security-trivy", res)
			if err != nil {
				return err
			}
			// Production's gate reads the scan next to the image. An image
			// in this session's own registry is gone when the call ends,
			// and its evidence with it.
			if repository != "" {
				v.Summary += "; " + m.recordScan(ictx, c, ref, len(res.Findings), username, password)
			} else {
				v.Summary += "; scan evidence not recorded: the image is only in this session's registry (pass --repository)"
			}
			record("trivy", start, v)
			return nil
		})
		return inner.Wait()
	})
	werr := g.Wait()
	// The notification names the digest when publish got that far.
	published := ""
	for _, r := range results {
		if r.name == "publish" {
			published = r.verdict.Summary
		}
	}
	if err := werr; err != nil {
		if _, nerr := m.notifyVerdict(ctx, c, published, err, ""); nerr != nil {
			return nil, fmt.Errorf("ci: %w; the notification failed too: %v", err, nerr)
		}
		return nil, fmt.Errorf("ci: %w", err)
	}
	v := summarize(results, func(r result) (string, *Verdict, time.Duration) { return r.name, r.verdict, r.took })
	line, err := m.notifyVerdict(ctx, c, published, nil, v.Problem)
	if err != nil {
		return nil, fmt.Errorf("ci: %w", err)
	}
	if line != "" {
		v.Summary += fmt.Sprintf("\n%-12s %s", "notify", line)
		fmt.Printf("%-12s %s\n", "notify", line)
	}
	return v, nil
}

// summarize puts the stages' reports under their names and their lines in
// one summary; sast's problem does not fail the whole.
func summarize[R any](results []R, parts func(R) (string, *Verdict, time.Duration)) *Verdict {
	out := &Verdict{Reports: dag.Directory()}
	var lines, problems []string
	for _, r := range results {
		name, v, took := parts(r)
		if v.Reports != nil {
			out.Reports = out.Reports.WithDirectory(name, v.Reports)
		}
		status := "ok"
		if v.Problem != "" {
			status = "FAILED"
			if name == "sast" {
				status = "findings (allowed to fail)"
			} else {
				problems = append(problems, v.Problem)
			}
		}
		lines = append(lines, fmt.Sprintf("%-12s %-28s %8s  %s", name, status, took, v.Summary))
	}
	out.Summary = strings.Join(lines, "\n")
	fmt.Println(out.Summary)
	out.Problem = strings.Join(problems, "\n")
	return out
}
