package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pipeline"
)

// Gate decides whether a release may go to an environment.
type Gate interface {
	Allow(ctx context.Context, env Environment, r Release) error
}

// PromotionGate is the production rule: a digest goes to production only
// when (a) it was deployed and verified in a staging environment, (b) its
// latest scan is clean, and (c) someone approved it. Evidence comes from
// Store, next to the image.
type PromotionGate struct {
	Store EvidenceStore
	// Staging names the environment whose evidence counts; empty accepts
	// any environment of tier staging.
	Staging string
}

var _ Gate = (*PromotionGate)(nil)

// GateError says which checks refused a release, each with its fix.
type GateError struct {
	Environment string
	Image       string
	Failed      []string
}

// Error lists every failed check.
func (e *GateError) Error() string {
	return fmt.Sprintf("environment %q refuses %s: %s", e.Environment, e.Image, strings.Join(e.Failed, "; "))
}

// The checks a PromotionGate makes, for errors.Is on a *GateError.
var (
	ErrNotVerifiedInStaging = errors.New("not deployed and verified in staging")
	ErrNotScannedClean      = errors.New("not scanned clean")
	ErrNotApproved          = errors.New("not approved")
)

// Is matches the failed checks.
func (e *GateError) Is(target error) bool {
	for _, f := range e.Failed {
		if strings.HasPrefix(f, target.Error()) {
			return true
		}
	}
	return false
}

// Allow checks the evidence and the approval; all failures are reported at
// once, so a refused release says everything that is missing.
func (g *PromotionGate) Allow(ctx context.Context, env Environment, r Release) error {
	d, err := ParseDigest(r.Image)
	if err != nil {
		return err
	}
	evs, err := g.Store.Evidence(ctx, d)
	if err != nil {
		return fmt.Errorf("environment %q: reading the evidence of %s: %w", env.Name, d, err)
	}
	var staged, scanned *Evidence
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case Deployed:
			if ev.Verified && (ev.Environment == g.Staging || (g.Staging == "" && ev.Tier == pipeline.Staging)) {
				staged = ev
			}
		case Scanned:
			scanned = ev // the latest scan decides: a rescan with new data may find what the first did not
		}
	}
	gerr := &GateError{Environment: env.Name, Image: d.String()}
	stagingName := g.Staging
	if stagingName == "" {
		stagingName = "a staging environment"
	}
	if staged == nil {
		gerr.Failed = append(gerr.Failed, fmt.Sprintf("%v: no evidence that it rolled out and passed verification in %s; deploy this digest there first", ErrNotVerifiedInStaging, stagingName))
	}
	switch {
	case scanned == nil:
		gerr.Failed = append(gerr.Failed, fmt.Sprintf("%v: no scan evidence; run the vulnerability scan on this digest", ErrNotScannedClean))
	case !scanned.Clean:
		gerr.Failed = append(gerr.Failed, fmt.Sprintf("%v: the latest scan (%s, %s) found %d vulnerabilities at %s; fix them and build a new image", ErrNotScannedClean, scanned.Scanner, scanned.Time.Format(time.RFC3339), scanned.Findings, scanned.Threshold))
	}
	if r.Approval == nil || r.Approval.By == "" {
		gerr.Failed = append(gerr.Failed, fmt.Sprintf("%v: production needs an explicit approval (Release.Approval; in CI the manual job's or environment reviewer's name)", ErrNotApproved))
	}
	if len(gerr.Failed) > 0 {
		return gerr
	}
	return nil
}

// Gated checks gate before deploying to a production-tier environment;
// other tiers deploy straight away.
func Gated(d Deployer, env Environment, gate Gate) Deployer {
	return &gated{d: d, env: env, gate: gate}
}

type gated struct {
	d    Deployer
	env  Environment
	gate Gate
}

var _ Deployer = (*gated)(nil)

func (g *gated) Deploy(ctx context.Context, r Release) (*Result, error) {
	if g.env.Tier == pipeline.Production {
		if err := g.gate.Allow(ctx, g.env, r); err != nil {
			return nil, fmt.Errorf("deploy: %w", err)
		}
	}
	return g.d.Deploy(ctx, r)
}

// Recording records Deployed evidence in store after every successful
// deploy by d, so that the next environment's gate can see it.
func Recording(d Deployer, env Environment, store EvidenceStore) Deployer {
	return &recording{d: d, env: env, store: store}
}

type recording struct {
	d     Deployer
	env   Environment
	store EvidenceStore
}

var _ Deployer = (*recording)(nil)

func (r *recording) Deploy(ctx context.Context, rel Release) (*Result, error) {
	res, err := r.d.Deploy(ctx, rel)
	if err != nil {
		return nil, err
	}
	d, err := ParseDigest(res.Image)
	if err != nil {
		return nil, err
	}
	ev := Evidence{Kind: Deployed, Environment: r.env.Name, Tier: r.env.Tier, Namespace: res.Namespace, Revision: res.Revision, Verified: true}
	if err := r.store.Record(ctx, d, ev); err != nil {
		return res, fmt.Errorf("deploy: environment %q: deployed %s, but recording the evidence failed (production will refuse it): %w", r.env.Name, d, err)
	}
	return res, nil
}

// RecordScan records the result of a vulnerability scan of image.
func RecordScan(ctx context.Context, store EvidenceStore, image, scanner, threshold string, findings int) error {
	d, err := ParseDigest(image)
	if err != nil {
		return fmt.Errorf("evidence: %w", err)
	}
	return store.Record(ctx, d, Evidence{Kind: Scanned, Scanner: scanner, Threshold: threshold, Findings: findings, Clean: findings == 0})
}
