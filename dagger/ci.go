package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// Ci runs the whole pipeline up to the deploys in one call, in the order
// of the pipeline and in parallel where it allows: the image is built and
// pushed (to the session's own registry unless a repository is given)
// beside test-unit, security-sast and security-govulncheck; its SBOM,
// test-integration and security-trivy then take the built image. Its
// reports hold each stage's under unit/, integration/, sbom/, trivy/,
// govulncheck/ and sast/; check fails when a stage that may not fail did
// (security-sast may). With a repository, the image is signed and attested
// as publish does it (with --signing-key), the scans are recorded next to
// it as production's gate reads them, and check's output ends with
// IMAGE_REF=repository@sha256:digest for the deploy jobs. Cached for an
// hour, like security-trivy.
//
// +cache="1h"
func (m *Slipway) Ci(
	ctx context.Context,
	// The commit, recorded in the image's labels and its provenance.
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
	// The Go vulnerability database as an image; see security-govulncheck's
	// dbImage.
	// +optional
	govulnDbImage string,
	// The private key that signs the digest, the SBOM, the provenance and
	// the scan evidence (cosign.key's PEM; --signing-key=env://SIGNING_KEY).
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password.
	// +optional
	signingKeyPassword *dagger.Secret,
	// The source repository's URL the provenance records (CI_PROJECT_URL).
	// Default: the sourceUrl setting.
	// +optional
	sourceUrl string,
) (*Verdict, error) {
	started := time.Now().UTC()
	if err := readable(ctx, signingArgs(password, signingKey, signingKeyPassword)...); err != nil {
		return nil, fmt.Errorf("ci: %w", err)
	}
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
	ko, err := signingOptions(ctx, c, signingKey, signingKeyPassword)
	if err != nil {
		return nil, err
	}
	type result struct {
		name    string
		verdict *Verdict
		took    time.Duration
	}
	var (
		mu      sync.Mutex
		results []result
		// Set before the goroutine that sets them returns.
		published string
		reachable int
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
		res, v, err := m.govulncheck(gctx, c, govulnDbImage, "", nil)
		if err != nil {
			return err
		}
		reachable = len(res.Reachable)
		record("govulncheck", start, v)
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
		published = ref
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
			sbomStart := time.Now()
			doc, err := sbom.Container(ictx, c, img, ref)
			if err != nil {
				return fmt.Errorf("sbom: %w", err)
			}
			v, err := verdict(ictx, "sbom", doc)
			if err != nil {
				return err
			}
			v.Summary = fmt.Sprintf("%d components, %d Go modules (CycloneDX, SPDX)", len(doc.Components), len(doc.GoModules()))
			record("sbom", sbomStart, v)
			line := "attestations not attached: the image is only in this session's registry (pass --repository)"
			if repository != "" {
				line, err = m.attestPublished(ictx, c, s, img, ref, publishCall{repository: repository, username: username, revision: revision,
					created: created, insecure: insecure, password: password, signingKey: signingKey, signingKeyPW: signingKeyPassword,
					started: started, sourceURL: sourceUrl, function: "ci"}, doc)
				if err != nil {
					return err
				}
			}
			record("publish", start, &Verdict{Summary: ref + "; " + line})
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
				v.Summary += "; " + m.recordScan(ictx, c, ref, len(res.Findings), username, password, ko...)
			} else {
				v.Summary += "; scan evidence not recorded: the image is only in this session's registry (pass --repository)"
			}
			record("trivy", start, v)
			return nil
		})
		return inner.Wait()
	})
	werr := g.Wait()
	if werr == nil && repository != "" {
		// govulncheck reads the source, so it may finish before the image
		// exists: its evidence is recorded once both are done.
		for i, r := range results {
			if r.name == "govulncheck" {
				v := *r.verdict
				v.Summary += "; " + m.recordScanAs(ctx, c, "security-govulncheck", published, "govulncheck", "reachable", reachable, username, password, ko...)
				results[i].verdict = &v
			}
		}
	}
	if err := werr; err != nil {
		// The notification names the digest when publish got that far.
		if _, nerr := m.notifyVerdict(ctx, c, published, err, ""); nerr != nil {
			return nil, fmt.Errorf("ci: %w; the notification failed too: %v", err, nerr)
		}
		return nil, fmt.Errorf("ci: %w", err)
	}
	// The stages in the pipeline's order, whatever order they ended in.
	slices.SortStableFunc(results, func(a, b result) int {
		return slices.Index(ciOrder, a.name) - slices.Index(ciOrder, b.name)
	})
	v := summarize(results, func(r result) (string, *Verdict, time.Duration) { return r.name, r.verdict, r.took })
	line, err := m.notifyVerdict(ctx, c, published, nil, v.Problem)
	if err != nil {
		return nil, fmt.Errorf("ci: %w", err)
	}
	if line != "" {
		v.Summary += fmt.Sprintf("\n%-12s %s", "notify", line)
		fmt.Printf("%-12s %s\n", "notify", line)
	}
	if repository != "" {
		// The deploy jobs' input (goservice.OneJob's LineOutputs): an
		// image in this session's own registry is gone when the call ends.
		v.Summary += "\n" + imageRefLine + "=" + published
	}
	return v, nil
}

// imageRefLine names the line of ci's summary that holds the pushed
// image's reference (goservice.ImageRef).
const imageRefLine = "IMAGE_REF"

// ciOrder is the order of ci's summary lines: the pipeline's.
var ciOrder = []string{"publish", "sbom", "unit", "integration", "trivy", "govulncheck", "sast"}

// summarize puts the stages' reports under their names, their lines in
// one summary and their logs in one log; sast's problem does not fail the
// whole.
func summarize[R any](results []R, parts func(R) (string, *Verdict, time.Duration)) *Verdict {
	out := &Verdict{Reports: dag.Directory()}
	var lines, problems, logs []string
	for _, r := range results {
		name, v, took := parts(r)
		if v.Log != "" {
			// Such as test-unit's coverage total, which the CIs' coverage
			// settings read from the job's log.
			logs = append(logs, v.Log)
		}
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
	out.Log = strings.Join(logs, "\n")
	return out
}
