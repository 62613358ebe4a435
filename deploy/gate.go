package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
	"github.com/slipway-ci/slipway/pipeline"
)

// Gate decides whether a release may go to an environment.
type Gate interface {
	Allow(ctx context.Context, env Environment, r Release) error
}

// PromotionGate is the production rule: a digest goes to production only
// when (a) it was deployed and verified in a staging environment, (b) the
// latest scan of each scanner is clean, and (c) someone approved it.
// Evidence comes from Store, next to the image.
//
// With Trust set, the gate verifies rather than reads: only evidence
// signed by a trusted key counts (Store is not read), and it also requires
// a signature on the digest itself, clean scans no older than
// Trust.MaxScanAge, and SLSA provenance from the expected builder and
// source repository. Every failure is named, with the referrers it refused
// and why (unsigned, signed by an untrusted key, changed after signing,
// about another digest).
type PromotionGate struct {
	Store EvidenceStore
	// Staging names the environment whose evidence counts; empty accepts
	// any environment of tier staging.
	Staging string
	// Trust, when set, makes the gate accept signed evidence only.
	Trust *Trust
	// RequireVerification makes staging evidence count only when a
	// post-deploy check ran there and passed (Evidence.Checks: a smoke
	// test, alerts), not when the rollout alone was waited for (a deploy
	// with --no-verify, or of a Deployment with nothing to probe).
	RequireVerification bool
}

// DefaultMaxScanAge is how old a clean scan may be by default: a day,
// so a CVE published since is found by a rescan before production.
const DefaultMaxScanAge = 24 * time.Hour

// Trust is what a verifying gate trusts.
type Trust struct {
	// Verifier holds the trusted public keys (several, to rotate).
	Verifier *attest.Verifier
	// Remote are the registry options (credentials, transport) for
	// reading the referrers.
	Remote []remote.Option
	// MaxScanAge bounds how old the latest clean scan may be; 0 means
	// DefaultMaxScanAge.
	MaxScanAge time.Duration
	// Scanners must each have a signed clean scan (such as "trivy",
	// "govulncheck"); empty asks for at least one scan of any scanner.
	Scanners []string
	// Builder is the provenance's expected builder.id; empty means
	// attest.DefaultBuilderID.
	Builder string
	// SourceRepository is the repository the provenance must name, such
	// as https://gitlab.com/team/billing; required.
	SourceRepository string
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
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
	// With Trust:
	ErrNotSigned    = errors.New("not signed by a trusted key")
	ErrScanTooOld   = errors.New("scan evidence too old")
	ErrNoProvenance = errors.New("no provenance from the expected builder and source")
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
	if g.Trust != nil {
		return g.allowSigned(ctx, env, r, d)
	}
	evs, err := g.Store.Evidence(ctx, d)
	if err != nil {
		return fmt.Errorf("environment %q: reading the evidence of %s: %w", env.Name, d, err)
	}
	gerr := &GateError{Environment: env.Name, Image: d.String()}
	gerr.Failed = append(gerr.Failed, g.checkEvidence(evs, nil, time.Time{}, 0)...)
	gerr.Failed = append(gerr.Failed, checkApproval(r)...)
	if len(gerr.Failed) > 0 {
		return gerr
	}
	return nil
}

// checkEvidence applies the staging and scan rules to evs. With scanners,
// each must have a latest scan that is clean; with maxAge > 0, no older
// than maxAge at now. refused adds, to each failure, what was refused for
// it.
func (g *PromotionGate) checkEvidence(evs []Evidence, refused func(predicateType string) string, now time.Time, maxAge time.Duration, scanners ...string) []string {
	var failed []string
	var staged, unchecked *Evidence
	latest := map[string]*Evidence{} // scanner -> latest scan
	var order []string
	for i := range evs {
		ev := &evs[i]
		switch ev.Kind {
		case Deployed:
			if ev.Verified && (ev.Environment == g.Staging || (g.Staging == "" && ev.Tier == pipeline.Staging)) {
				if g.RequireVerification && ev.Checks == "" {
					unchecked = ev
					continue
				}
				staged = ev
			}
		case Scanned:
			// The latest scan of each scanner decides: a rescan with new
			// data may find what the first did not, and one scanner's
			// clean run does not hide another's findings.
			if latest[ev.Scanner] == nil {
				order = append(order, ev.Scanner)
			}
			latest[ev.Scanner] = ev
		}
	}
	note := func(pt string) string {
		if refused == nil {
			return ""
		}
		return refused(pt)
	}
	stagingName := g.Staging
	if stagingName == "" {
		stagingName = "a staging environment"
	}
	signed := ""
	if refused != nil {
		signed = "signed "
	}
	switch {
	case staged == nil && unchecked != nil:
		failed = append(failed, fmt.Sprintf("%v: the %sevidence from %s says only that it rolled out: no post-deploy check ran there (it was deployed with --no-verify, or its Deployment declares no probe to smoke-test), and this gate requires one; deploy it to %s with verification (--verify-path, --alert-rules), or drop --require-verification",
			ErrNotVerifiedInStaging, signed, unchecked.Environment, unchecked.Environment))
	case staged == nil:
		failed = append(failed, fmt.Sprintf("%v: no %sevidence that it rolled out and passed verification in %s; deploy this digest there first%s", ErrNotVerifiedInStaging, signed, stagingName, note(DeployedPredicate)))
	}
	want := scanners
	if len(want) == 0 {
		want = order
	}
	if len(want) == 0 {
		failed = append(failed, fmt.Sprintf("%v: no %sscan evidence; run the vulnerability scan on this digest%s", ErrNotScannedClean, signed, note(ScannedPredicate)))
	}
	for _, sc := range want {
		ev := latest[sc]
		switch {
		case ev == nil:
			failed = append(failed, fmt.Sprintf("%v: no %sscan evidence from %s; run the %s scan on this digest%s", ErrNotScannedClean, signed, sc, sc, note(ScannedPredicate)))
		case !ev.Clean:
			failed = append(failed, fmt.Sprintf("%v: the latest scan (%s, %s) found %d vulnerabilities at %s; fix them and build a new image", ErrNotScannedClean, ev.Scanner, ev.Time.Format(time.RFC3339), ev.Findings, ev.Threshold))
		case maxAge > 0 && now.Sub(ev.Time) > maxAge:
			failed = append(failed, fmt.Sprintf("%v: the latest clean %s scan is from %s, %s old, more than the %s allowed; scan this digest again", ErrScanTooOld, ev.Scanner, ev.Time.Format(time.RFC3339), now.Sub(ev.Time).Round(time.Minute), maxAge))
		}
	}
	return failed
}

func checkApproval(r Release) []string {
	if r.Approval == nil || r.Approval.By == "" {
		return []string{fmt.Sprintf("%v: production needs an explicit approval (Release.Approval; in CI the manual job's or environment reviewer's name)", ErrNotApproved)}
	}
	return nil
}

// allowSigned is Allow with Trust: only signed evidence counts.
func (g *PromotionGate) allowSigned(ctx context.Context, env Environment, r Release, d name.Digest) error {
	t := g.Trust
	if t.Verifier == nil {
		return fmt.Errorf("environment %q: the gate trusts no key (Trust.Verifier); give the public key of the pipeline's SIGNING_KEY", env.Name)
	}
	if t.SourceRepository == "" {
		return fmt.Errorf("environment %q: the gate expects no source repository (Trust.SourceRepository); name the repository production images are built from", env.Name)
	}
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	maxAge := t.MaxScanAge
	if maxAge <= 0 {
		maxAge = DefaultMaxScanAge
	}
	builder := t.Builder
	if builder == "" {
		builder = attest.DefaultBuilderID
	}
	rep, err := t.Verifier.Verify(ctx, d, t.Remote...)
	if err != nil {
		return fmt.Errorf("environment %q: reading the evidence of %s: %w", env.Name, d, err)
	}
	evs, err := evidence.FromReport(rep)
	if err != nil {
		return fmt.Errorf("environment %q: %w", env.Name, err)
	}
	refused := func(pt string) string { return refusedNote(rep, pt) }
	gerr := &GateError{Environment: env.Name, Image: d.String()}
	if len(rep.Find(attest.CosignSignPredicate)) == 0 {
		var ids []string
		for _, k := range t.Verifier.Keys() {
			ids = append(ids, k.String())
		}
		gerr.Failed = append(gerr.Failed, fmt.Sprintf("%v: no signature on %s verifies with the trusted keys (%s); the publish job signs it with SIGNING_KEY%s",
			ErrNotSigned, d.DigestStr(), strings.Join(ids, ", "), refused(attest.CosignSignPredicate)))
	}
	gerr.Failed = append(gerr.Failed, g.checkEvidence(evs, refused, now, maxAge, t.Scanners...)...)
	gerr.Failed = append(gerr.Failed, checkProvenance(rep, builder, t.SourceRepository)...)
	gerr.Failed = append(gerr.Failed, checkApproval(r)...)
	if len(gerr.Failed) > 0 {
		return gerr
	}
	return nil
}

// checkProvenance asks for verified provenance from builder of repo.
func checkProvenance(rep *attest.Report, builder, repo string) []string {
	provs := rep.Find(attest.SLSAProvenancePredicate)
	var seen []string
	for _, a := range provs {
		p, err := attest.DecodeProvenance(a)
		if err != nil {
			seen = append(seen, err.Error())
			continue
		}
		gotRepo, _, err := attest.Source(p)
		if err != nil {
			seen = append(seen, err.Error())
			continue
		}
		gotBuilder := p.GetRunDetails().GetBuilder().GetId()
		if gotBuilder == builder && sameRepository(gotRepo, repo) {
			return nil
		}
		seen = append(seen, fmt.Sprintf("builder %s of %s", gotBuilder, gotRepo))
	}
	msg := fmt.Sprintf("%v: no signed SLSA provenance from builder %s of %s", ErrNoProvenance, builder, repo)
	if len(seen) > 0 {
		msg += " (found: " + strings.Join(seen, "; ") + ")"
	}
	msg += "; the build job records it"
	return []string{msg + refusedNote(rep, attest.SLSAProvenancePredicate)}
}

// sameRepository compares repository URLs, ignoring a trailing slash or
// .git.
func sameRepository(a, b string) bool {
	norm := func(s string) string { return strings.TrimSuffix(strings.TrimSuffix(s, "/"), ".git") }
	return norm(a) == norm(b)
}

// refusedNote lists the referrers refused that claimed predicateType, and
// the unsigned ones that look like it (slipway's older evidence names its
// kind in an annotation), as " (refused: ...)".
func refusedNote(rep *attest.Report, predicateType string) string {
	var parts []string
	for _, rj := range rep.Rejected {
		claimed := rj.PredicateType
		if claimed == "" {
			if kind := rj.Annotations["vnd.slipway.evidence.kind"]; kind != "" {
				claimed, _ = PredicateType(EvidenceKind(kind))
			}
		}
		if claimed == predicateType || (claimed == "" && predicateType == attest.CosignSignPredicate) {
			parts = append(parts, rj.String())
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (refused: " + strings.Join(parts, "; ") + ")"
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
	if res.Verified {
		ev.Checks = res.Verification
		if ev.Checks == "" {
			ev.Checks = "verified (no description)"
		}
	}
	if err := r.store.Record(ctx, d, ev); err != nil {
		return res, fmt.Errorf("deploy: environment %q: deployed %s, but recording the evidence failed (production will refuse it): %w", r.env.Name, d, err)
	}
	return res, nil
}
