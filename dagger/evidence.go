package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage"
	"github.com/slipway-ci/slipway/stage/goimage"
	"github.com/slipway-ci/slipway/stage/govulncheck"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// The supply-chain evidence: govulncheck, the SBOM, the signature on the
// digest, SLSA provenance, and the signed staging and scan evidence
// production's gate verifies.

// unsignedNote says what is not signed without a signing key, and how to
// sign it.
const unsignedNote = "not signed (no --signing-key, e.g. --signing-key=env://SIGNING_KEY): the image's signature, SBOM and provenance are not attached, and production's gate will refuse this digest"

// SecurityGovulncheck runs govulncheck over the source against an offline
// copy of the Go vulnerability database: check fails on vulnerabilities
// the code calls (naming the GO- IDs and call paths) and lists those in
// imported or required code that it does not call. Its reports hold
// govulncheck.json, govulncheck.sarif (GitHub code scanning),
// gl-dependency-scanning-report.json (GitLab) and govulncheck.txt. With
// --image, the scan is recorded next to that image as evidence for
// production's gate (scanner govulncheck), signed with --signing-key.
// Cached for an hour, like security-trivy: the database moves on.
//
// +cache="1h"
func (m *Slipway) SecurityGovulncheck(
	ctx context.Context,
	// The image built from this source, as repository@sha256:digest, to
	// record the scan next to.
	// +optional
	image string,
	// The database as an image (what slipway's engine mirror serves, such
	// as 10.87.0.1:5000/slipway-ci/govulndb:VERSION). Default: built from
	// golang.org/x/vulndb at dbVersion, fetched through the Go module
	// proxy.
	// +optional
	dbImage string,
	// The golang.org/x/vulndb version the database is built from when no
	// dbImage is given.
	// +optional
	dbVersion string,
	// An ignore file (YAML, entries with expired_at dates, as Trivy's):
	// a called vulnerability it names does not fail the check until then.
	// Default: the govulncheckIgnore setting's.
	// +optional
	ignoreFile *dagger.File,
	// The user for the image's registry, where the scan is recorded.
	// +optional
	registryUsername string,
	// The password or token for the image's registry.
	// +optional
	registryPassword *dagger.Secret,
	// The private key that signs the scan evidence (cosign.key's PEM;
	// --signing-key=env://SIGNING_KEY).
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password.
	// +optional
	signingKeyPassword *dagger.Secret,
) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	res, v, err := m.govulncheck(ctx, c, dbImage, dbVersion, ignoreFile)
	if err != nil {
		return nil, err
	}
	if image != "" {
		ko, err := signingOptions(ctx, c, signingKey, signingKeyPassword)
		if err != nil {
			return nil, err
		}
		v.Summary += "; " + m.recordScanAs(ctx, c, "security-govulncheck", image, "govulncheck", "reachable", len(res.Reachable), registryUsername, registryPassword, ko...)
	}
	return v, nil
}

// govulncheck scans the source: security-govulncheck without recording
// the scan.
func (m *Slipway) govulncheck(ctx context.Context, c *sdk.Client, dbImage, dbVersion string, ignoreFile *dagger.File) (*govulncheck.Result, *Verdict, error) {
	s, _, err := m.resolveGo(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("security-govulncheck: %w", err)
	}
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return nil, nil, err
	}
	opts := []govulncheck.Option{govulncheck.WithPackages(m.TestPackages...), govulncheck.WithGoImage(s.goImage)}
	switch {
	case dbImage != "":
		opts = append(opts, govulncheck.WithDBImage(dbImage))
	case dbVersion != "":
		opts = append(opts, govulncheck.WithDBVersion(dbVersion))
	}
	switch {
	case ignoreFile != nil:
		f, err := handover.To(ctx, ignoreFile, c.LoadFileFromID)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, govulncheck.WithIgnoreFile(f))
	case m.GovulncheckIgnore != "":
		opts = append(opts, govulncheck.WithIgnoreFile(src.File(m.GovulncheckIgnore)))
	}
	for _, o := range stage.ProcessGoEnv() {
		opts = append(opts, govulncheck.WithGoEnv(goEnvOf(o)))
	}
	res, err := govulncheck.Scan(ctx, c, src, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("security-govulncheck: %w", err)
	}
	v, err := verdict(ctx, "security-govulncheck", res)
	if err != nil {
		return nil, nil, err
	}
	return res, v, nil
}

// Sbom makes the image's software bill of materials with Trivy's SBOM
// output, offline: CycloneDX (gl-sbom-image.cdx.json, GitLab's
// artifacts:reports:cyclonedx) and SPDX (sbom.spdx.json) in its reports,
// and its component count in the summary. publish attaches the same
// documents to the digest as signed attestations.
func (m *Slipway) Sbom(
	ctx context.Context,
	// The image, as repository@sha256:digest.
	image string,
) (*Verdict, error) {
	c, err := handover.Client(ctx)
	if err != nil {
		return nil, err
	}
	res, err := sbom.Image(ctx, c, image)
	if err != nil {
		return nil, err
	}
	v, err := verdict(ctx, "sbom", res)
	if err != nil {
		return nil, err
	}
	// The image is the job's input: the summary says what it holds.
	v.Summary = fmt.Sprintf("%d components, %d Go modules (CycloneDX, SPDX)", len(res.Components), len(res.GoModules()))
	return v, nil
}

// secretArg is a secret argument of a call and what to say when it cannot
// be read.
type secretArg struct {
	flag   string
	secret *dagger.Secret
	// without says what leaving the argument out does.
	without string
}

// readable reads each given secret once, before anything is built, and
// throws the value away: a secret the CLI cannot resolve (env://SIGNING_KEY
// with the variable unset, a CI variable not shared with this job) is
// named with its fix now, instead of failing the push minutes later with
// the engine's "secret env var not found: SIG...".
func readable(ctx context.Context, args ...secretArg) error {
	for _, a := range args {
		if a.secret == nil {
			continue
		}
		if _, err := a.secret.Plaintext(ctx); err != nil {
			return fmt.Errorf("--%s cannot be read: set the variable or file it names (env://NAME needs NAME set in this job: a masked CI/CD variable on GitLab, a secret on GitHub), or %s: %v", a.flag, a.without, err)
		}
	}
	return nil
}

// signingArgs are the secrets of a call that signs.
func signingArgs(password, key, keyPassword *dagger.Secret) []secretArg {
	return []secretArg{
		{"password", password, "drop --password for a registry that needs none"},
		{"signing-key", key, "drop --signing-key to publish unsigned (production's gate then refuses the digest)"},
		{"signing-key-password", keyPassword, "drop --signing-key-password for a key without one"},
	}
}

// signingOptions hands the signing key and its password to the deploy
// tool; nil without a key.
func signingOptions(ctx context.Context, c *sdk.Client, key, password *dagger.Secret) ([]kube.Option, error) {
	if key == nil {
		return nil, nil
	}
	k, err := handover.To(ctx, key, c.LoadSecretFromID)
	if err != nil {
		return nil, err
	}
	pw, err := handover.To(ctx, password, c.LoadSecretFromID)
	if err != nil {
		return nil, err
	}
	return []kube.Option{kube.WithSigningKey(k, pw)}, nil
}

// publishCall is what publish was asked, for the provenance.
type publishCall struct {
	repository, username, revision, created string
	platforms                               []string
	insecure                                bool
	password, signingKey, signingKeyPW      *dagger.Secret
	sourceURL                               string
	started                                 time.Time
	// function is the call the provenance records; "" is publish.
	function string
}

// sourceURL is the source repository's URL: the argument's, else the
// sourceUrl setting's.
func (m *Slipway) sourceURL(arg string) string {
	if arg != "" {
		return arg
	}
	return m.SourceURL
}

// attestPublished signs the published digest and attaches the image's
// SBOM (CycloneDX and SPDX; doc, or made here when nil) and SLSA
// provenance as signed referrers. Without a signing key it says what is
// not signed. It returns the line publish prints.
func (m *Slipway) attestPublished(ctx context.Context, c *sdk.Client, s settings, img *sdk.Container, ref string, call publishCall, doc *sbom.Result) (string, error) {
	if call.signingKey == nil {
		return unsignedNote, nil
	}
	ko, err := signingOptions(ctx, c, call.signingKey, call.signingKeyPW)
	if err != nil {
		return "", err
	}
	pw, err := handover.To(ctx, call.password, c.LoadSecretFromID)
	if err != nil {
		return "", err
	}
	if doc == nil {
		if doc, err = sbom.Container(ctx, c, img, ref); err != nil {
			return "", fmt.Errorf("publish: %w", err)
		}
	}
	b, missing, err := m.buildEvidence(ctx, c, s, call)
	if err != nil {
		return "", err
	}
	b.CycloneDX, b.SPDX = doc.Reports.File(sbom.CycloneDXFile), doc.Reports.File(sbom.SPDXFile)
	line, err := kube.Attest(ctx, c, ref, b, append(m.kubeOptions(call.username, pw), ko...)...)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	line += fmt.Sprintf("; SBOM: %d components, %d Go modules", len(doc.Components), len(doc.GoModules()))
	if missing != "" {
		line += "; " + missing
	}
	return line, nil
}

// buildEvidence is what publish signs about the image besides its digest
// and its SBOM: the provenance and go.sum, or, when the call cannot give
// provenance, why not (missing).
func (m *Slipway) buildEvidence(ctx context.Context, c *sdk.Client, s settings, call publishCall) (b kube.Build, missing string, err error) {
	switch {
	case m.sourceURL(call.sourceURL) == "":
		missing = "no provenance: pass --source-url or set the sourceUrl setting (the repository's URL), which production's gate checks it against"
	case call.revision == "":
		missing = "no provenance: pass --revision (the commit built)"
	case !isCommit(call.revision):
		missing = fmt.Sprintf("no provenance: --revision %q is not a commit hash (SLSA records the source by its commit)", call.revision)
	default:
		p, goSum, err := m.provenance(ctx, c, s, call)
		if err != nil {
			return b, "", fmt.Errorf("publish: %w", err)
		}
		b.Provenance, b.GoSum = p, goSum
	}
	return b, missing, nil
}

// isCommit reports whether rev is a git commit hash (SHA-1 or SHA-256,
// in full), as SLSA provenance records the source.
func isCommit(rev string) bool {
	if len(rev) != 40 && len(rev) != 64 {
		return false
	}
	_, err := hex.DecodeString(rev)
	return err == nil
}

// provenance is publish's SLSA provenance: the call and its arguments
// (secrets by name), the source, the base images by digest and go.sum.
func (m *Slipway) provenance(ctx context.Context, c *sdk.Client, s settings, call publishCall) (*kube.Provenance, *sdk.File, error) {
	args := map[string]string{"revision": call.revision, "insecure": strconv.FormatBool(call.insecure)}
	for k, v := range map[string]string{"repository": call.repository, "username": call.username, "created": call.created, "platforms": strings.Join(call.platforms, ",")} {
		if v != "" {
			args[k] = v
		}
	}
	var secrets []string
	for name, sec := range map[string]*dagger.Secret{"password": call.password, "signing-key": call.signingKey, "signing-key-password": call.signingKeyPW} {
		if sec != nil {
			secrets = append(secrets, name)
		}
	}
	var bases []string
	for _, ref := range []string{s.goImage, goimage.DefaultBase} {
		pinned, err := c.Container().From(ref).ImageRef(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("provenance: resolving the base image %s: %w", ref, err)
		}
		bases = append(bases, pinned)
	}
	version, err := c.Version(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("provenance: the Dagger version: %w", err)
	}
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return nil, nil, err
	}
	var goSum *sdk.File
	if found, err := src.Glob(ctx, "go.sum"); err == nil && len(found) == 1 {
		goSum = src.File("go.sum")
	}
	return &kube.Provenance{
		DaggerVersion: version, Repository: m.sourceURL(call.sourceURL), Revision: call.revision,
		Function: cmp.Or(call.function, "publish"), Arguments: args, Secrets: secrets, BaseImages: bases,
		Started: call.started, Finished: time.Now().UTC(),
	}, goSum, nil
}

// evidenceArgs are the deploy functions' evidence arguments.
type evidenceArgs struct {
	signingKey, signingKeyPW *dagger.Secret
	trustedKeys              *dagger.Secret
	scanners                 []string
	maxScanAge               string
	sourceURL                string
	requireVerification      bool
}

// evidenceOptions are the deploy tool's evidence settings: the signing
// key, and for production the trusted keys (the trustedKeys setting's
// file and --trusted-keys together: rotation adds the new key first),
// the source repository the provenance must name and the scan rules.
func (m *Slipway) evidenceOptions(ctx context.Context, c *sdk.Client, production bool, ev evidenceArgs) ([]kube.Option, error) {
	opts, err := signingOptions(ctx, c, ev.signingKey, ev.signingKeyPW)
	if err != nil {
		return nil, err
	}
	if !production {
		return opts, nil
	}
	var age time.Duration
	if ev.maxScanAge != "" {
		if age, err = time.ParseDuration(ev.maxScanAge); err != nil || age <= 0 {
			return nil, fmt.Errorf("max-scan-age %q is not a positive Go duration such as 24h", ev.maxScanAge)
		}
	}
	opts = append(opts, kube.WithProductionChecks(m.sourceURL(ev.sourceURL), ev.scanners, age))
	if ev.requireVerification {
		opts = append(opts, kube.WithRequireVerification())
	}
	keys, err := m.trustedKeys(ctx, c, ev.trustedKeys)
	if err != nil {
		return nil, err
	}
	if keys != nil {
		opts = append(opts, kube.WithTrustedKeys(keys))
	}
	return opts, nil
}

// trustedKeys joins the trustedKeys setting's file (a path in the source)
// and the --trusted-keys secret; nil when neither is given.
func (m *Slipway) trustedKeys(ctx context.Context, c *sdk.Client, secret *dagger.Secret) (*sdk.Secret, error) {
	var pems []string
	if m.TrustedKeys != "" {
		src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
		if err != nil {
			return nil, err
		}
		text, err := src.File(m.TrustedKeys).Contents(ctx)
		if err != nil {
			return nil, fmt.Errorf("trustedKeys: %s is not a file in the source: %w", m.TrustedKeys, err)
		}
		pems = append(pems, text)
	}
	if secret != nil {
		if len(pems) == 0 {
			return handover.To(ctx, secret, c.LoadSecretFromID)
		}
		text, err := secret.Plaintext(ctx)
		if err != nil {
			return nil, fmt.Errorf("--trusted-keys cannot be read: %w", err)
		}
		pems = append(pems, text)
	}
	if len(pems) == 0 {
		return nil, nil
	}
	joined := strings.Join(pems, "\n")
	// Public keys: nothing secret, but the tool reads every key from
	// the same variable.
	sum := sha256.Sum256([]byte(joined))
	return c.SetSecret("slipway-trusted-keys-"+hex.EncodeToString(sum[:8]), joined), nil
}

// recordScanAs records a scan of image by scanner (findings at or above
// threshold) as evidence next to the image, signed with the key in extra
// when given; the scan stands without it (an image in a registry this
// session cannot write to is still scanned, and the gate then says the
// evidence is missing). Returns what happened, for the summary.
func (m *Slipway) recordScanAs(ctx context.Context, c *sdk.Client, stageName, image, scanner, threshold string, findings int, username string, password *dagger.Secret, extra ...kube.Option) string {
	pw, err := handover.To(ctx, password, c.LoadSecretFromID)
	if err == nil {
		var line string
		line, err = kube.RecordScan(ctx, c, image, scanner, threshold, findings, append(m.kubeOptions(username, pw), extra...)...)
		if err == nil {
			return line
		}
	}
	fmt.Println(stageName+": the scan evidence was not recorded:", err)
	return "scan evidence not recorded: " + err.Error()
}
