package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/attest"
)

// evidenceStore is where a deploy or a scan records its evidence: signed
// attestations with SIGNING_KEY, else unsigned referrers, which
// production's gate refuses. note says which, for the one-line result.
func evidenceStore(getenv func(string) string) (deploy.EvidenceStore, string, error) {
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		return nil, "", err
	}
	if s == nil {
		return deploy.NewReferrers(registryOptions(getenv)...),
			"evidence recorded unsigned (no " + attest.SigningKeyEnv + "; production's gate will refuse this digest)", nil
	}
	return deploy.NewSignedReferrers(s, nil, registryOptions(getenv)...), "signed evidence recorded (key ID " + s.KeyID() + ")", nil
}

// promotionGate is production's gate: it verifies, with the trusted keys
// of SLIPWAY_TRUSTED_KEYS (or the file SLIPWAY_TRUSTED_KEYS_FILE names), a
// signature on the digest, signed staging evidence, signed clean scans no
// older than --max-scan-age and provenance of --source-repository. Without
// trusted keys there is nothing to verify with, so production refuses:
// unsigned evidence is what anyone who can push to the registry can forge.
func promotionGate(stage string, f deployFlags, getenv func(string) string) (*deploy.PromotionGate, error) {
	v, err := attest.VerifierFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: the trusted keys: %w", stage, err)
	}
	if v == nil {
		return nil, &refusal{fmt.Errorf("%s: production accepts only evidence signed by a trusted key, and no key is trusted: give the public key of the pipeline's %s (cosign.pub; several concatenated to rotate) in %s (the module's trustedKeys setting or deploy-production --trusted-keys), and sign publish, the scans and deploy-staging with %s",
			stage, attest.SigningKeyEnv, attest.TrustedKeysEnv, attest.SigningKeyEnv)}
	}
	if f.sourceRepo == "" {
		return nil, fmt.Errorf("%s: production checks the provenance's source repository, and none is expected: pass --source-repository (the module's sourceUrl setting): %w", stage, errUsage)
	}
	age, err := time.ParseDuration(f.maxScanAge)
	if err != nil || age <= 0 {
		return nil, fmt.Errorf("%s: max-scan-age %q is not a positive Go duration such as 24h", stage, f.maxScanAge)
	}
	var scanners []string
	for _, s := range strings.Split(f.scanners, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scanners = append(scanners, s)
		}
	}
	return &deploy.PromotionGate{Staging: f.stagingEnv, RequireVerification: f.requireVerification, Trust: &deploy.Trust{
		Verifier: v, Remote: registryOptions(getenv), MaxScanAge: age, Scanners: scanners, SourceRepository: f.sourceRepo,
	}}, nil
}

// runAttest signs what the build made: the image digest itself (as `cosign
// sign` does), the SBOM documents and the SLSA provenance, each pushed as
// a signed referrer of the digest, with SIGNING_KEY.
//
// With --push-command it also pushes the image and makes the SBOM, in one
// process (stage/publish): the SBOM command starts at once, the key and the
// provenance are checked before the push command runs (a key that cannot
// sign fails before anything is pushed), and the digest is the push
// command's output. A failed push exits with the push command's own exit
// status and standard error, so its caller reads them as the push's.
func runAttest(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	const stage = "attest"
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "the built image, as repository@sha256:digest")
	cdx := fs.String("sbom-cyclonedx", "", "the image's CycloneDX SBOM file")
	spdx := fs.String("sbom-spdx", "", "the image's SPDX SBOM file")
	prov := fs.String("provenance", "", "the build's provenance, a JSON file of attest.Provenance's fields (no Finished: now)")
	goSum := fs.String("go-sum", "", "the built module's go.sum, the provenance's resolved Go modules")
	pushCmd := fs.String("push-command", "", "a command (JSON array) that pushes the image and prints repository@sha256:digest, instead of --image")
	sbomCmd := fs.String("sbom-command", "", "with --push-command: a command (JSON array) that writes the SBOM files, run beside the push")
	state := fs.String("state", "", "with --push-command: a file the tool writes the failed part to (check, push, sbom or attest)")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	var pushArgv, sbomArgv []string
	for _, c := range []struct {
		flag, value string
		argv        *[]string
	}{{"push-command", *pushCmd, &pushArgv}, {"sbom-command", *sbomCmd, &sbomArgv}} {
		if c.value == "" {
			continue
		}
		if err := json.Unmarshal([]byte(c.value), c.argv); err != nil || len(*c.argv) == 0 {
			return "", fmt.Errorf("%s: --%s %q is not a JSON array of a command and its arguments: %w", stage, c.flag, c.value, errUsage)
		}
	}
	switch {
	case *image != "" && pushArgv != nil:
		return "", fmt.Errorf("%s: --image and --push-command both name the image: give one: %w", stage, errUsage)
	case *image == "" && pushArgv == nil:
		return "", fmt.Errorf("%s: no --image: pass the repository@sha256:digest publish pushed: %w", stage, errUsage)
	case (sbomArgv != nil || *state != "") && pushArgv == nil:
		return "", fmt.Errorf("%s: --sbom-command and --state go with --push-command: %w", stage, errUsage)
	}
	failed := func(part string, err error) error {
		if *state != "" {
			if werr := os.WriteFile(*state, []byte(part+"\n"), 0o644); werr != nil {
				return fmt.Errorf("%w (and recording the failed part: %v)", err, werr)
			}
		}
		return err
	}
	// The SBOM is made from the start: it is the longest part.
	var sbomDone func() error
	if sbomArgv != nil {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sbomDone = start(sctx, sbomArgv)
	}
	var d name.Digest
	if *image != "" {
		var err error
		if d, err = deploy.ParseDigest(*image); err != nil {
			return "", fmt.Errorf("%s: %w", stage, err)
		}
	}
	s, err := attest.SignerFromEnv(getenv)
	if err != nil {
		return "", failed("check", fmt.Errorf("%s: %w", stage, err))
	}
	if s == nil {
		return "", failed("check", fmt.Errorf("%s: no signing key: give the private key (cosign.key) in %s", stage, attest.SigningKeyEnv))
	}
	var p *attest.Provenance
	if *prov != "" {
		raw, err := os.ReadFile(*prov)
		if err != nil {
			return "", failed("check", fmt.Errorf("%s: %w", stage, err))
		}
		p = new(attest.Provenance)
		if err := json.Unmarshal(raw, p); err != nil {
			return "", failed("check", fmt.Errorf("%s: the provenance file %s: %w", stage, *prov, err))
		}
		if p.GoSum, err = readOptional(*goSum); err != nil {
			return "", failed("check", fmt.Errorf("%s: %w", stage, err))
		}
	}
	pushed := ""
	if pushArgv != nil {
		out, err := pushImage(ctx, pushArgv)
		if err != nil {
			return "", failed("push", err)
		}
		if d, err = deploy.ParseDigest(out); err != nil {
			return "", failed("push", fmt.Errorf("%s: the push command printed %q: %w", stage, out, err))
		}
		pushed = out + "\n"
	}
	if sbomDone != nil {
		if err := sbomDone(); err != nil {
			return "", failed("sbom", fmt.Errorf("%s: making the SBOM of %s: %w; the image is pushed but not signed", stage, d.String(), err))
		}
	}
	// Everything is read and checked before anything is signed: a bad
	// file leaves no half-attested digest.
	var docs attest.SBOMs
	if docs.CycloneDX, err = readOptional(*cdx); err == nil {
		docs.SPDX, err = readOptional(*spdx)
	}
	if err != nil {
		return "", failed("attest", fmt.Errorf("%s: %w", stage, err))
	}
	// A build that pushes and signs in one process cannot know when it
	// finished before it is run: it is now, with the image pushed and its
	// SBOM made.
	if p != nil && p.Finished.IsZero() {
		p.Finished = time.Now().UTC()
	}
	line, err := sign(ctx, s, d, docs, p, registryOptions(getenv))
	if err != nil {
		return "", failed("attest", fmt.Errorf("%s: %w", stage, err))
	}
	return pushed + line, nil
}

// sign signs d and attaches docs and p as signed referrers, and says what
// it did.
func sign(ctx context.Context, s *attest.Signer, d name.Digest, docs attest.SBOMs, p *attest.Provenance, opts []remote.Option) (string, error) {
	// The referrers are independent of each other, so they are pushed at
	// once: this runs right after the build stage's push, and its round
	// trips were most of what signing added to it.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		_, err := s.SignImage(gctx, d, opts...)
		return err
	})
	parts := []string{fmt.Sprintf("signed %s with key ID %s", d.DigestStr(), s.KeyID())}
	if len(docs.CycloneDX) > 0 || len(docs.SPDX) > 0 {
		g.Go(func() error {
			_, err := s.AttestSBOMs(gctx, d, docs, opts...)
			return err
		})
		parts = append(parts, "signed SBOM attached")
	}
	if p != nil {
		g.Go(func() error {
			_, err := s.AttestProvenance(gctx, d, *p, opts...)
			return err
		})
		builder := p.BuilderID
		if builder == "" {
			builder = attest.DefaultBuilderID
		}
		parts = append(parts, "signed SLSA provenance attached (builder "+builder+")")
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	return strings.Join(parts, "; "), nil
}

// start runs argv in the background and returns a function that waits for
// it: nil when it exits 0, else an error with its output.
func start(ctx context.Context, argv []string) func() error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return func() error { return err }
	}
	return func() error {
		if err := cmd.Wait(); err != nil {
			if msg := strings.TrimSpace(out.String()); msg != "" {
				return fmt.Errorf("%v: %s", err, msg)
			}
			return err
		}
		return nil
	}
}

// exitStatus is a command's failure passed on as the tool's own: main
// prints Stderr as it is and exits with Code.
type exitStatus struct {
	Code   int
	Stderr string
}

func (e *exitStatus) Error() string {
	return fmt.Sprintf("exit status %d: %s", e.Code, strings.TrimSpace(e.Stderr))
}

// pushImage runs the push command and returns the last line it printed.
// When it fails, the error is its exit status and standard error.
func pushImage(ctx context.Context, argv []string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return "", &exitStatus{Code: ee.ExitCode(), Stderr: stderr.String()}
		}
		return "", fmt.Errorf("attest: running the push command %q: %w", argv[0], err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// readOptional reads path, or nothing when path is empty.
func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}

// refusal is production refusing a digest before its gate can run (no key
// is trusted, so no evidence could be): a refusal in notifications, like
// the gate's own *deploy.GateError, not a failed deploy.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }
func (r *refusal) Unwrap() error { return r.err }
