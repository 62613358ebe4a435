// Command slipway-evidence records what slipway's build and scan stages
// prove about an image digest, next to the image in its registry, for
// production's gate: it signs the digest and attaches the SBOMs and the
// SLSA provenance as signed attestations (attest), and records a scan's
// findings (record-scan). It is the part of the deploy tool
// (cmd/slipway-deploy) that these stages need, without Kubernetes, Helm or
// Argo CD: on a runner whose Dagger engine starts empty every job builds
// its tools from source, and this one builds in a fraction of the deploy
// tool's time. stage/kube builds and runs it like the deploy tool.
//
//	slipway-evidence record-scan --image=REPO@sha256:D --findings=N [--scanner=trivy] [--threshold=HIGH,CRITICAL]
//	slipway-evidence attest      --image=REPO@sha256:D [--sbom-cyclonedx=F] [--sbom-spdx=F] [--provenance=F --go-sum=F]
//	                             (or --push-command=JSON [--sbom-command=JSON] [--state=FILE] instead of --image: push, SBOM and sign in one run)
//
// Evidence is signed with the private key in SIGNING_KEY (its password in
// SIGNING_KEY_PASSWORD), as in-toto attestations cosign verifies; without
// a key, record-scan records unsigned evidence and says so (production's
// gate refuses it), and attest refuses. The registry user and password
// come from REGISTRY_USERNAME and REGISTRY_PASSWORD (never flags).
//
// On success it prints one line on standard output (attest with
// --push-command first prints the pushed reference); on failure one
// message on standard error, naming the problem and its fix, and exits 1
// (2 for a usage error); a failed push command's exit status and standard
// error are passed on as they were.
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
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/deploy/attest"
	"github.com/slipway-ci/slipway/deploy/evidence"
)

// errUsage marks a command line that cannot run (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := run(ctx, os.Args[1:], os.Getenv)
	var status *exitStatus
	if errors.As(err, &status) {
		// Another command's failure, passed on as it was (attest's push).
		fmt.Fprint(os.Stderr, status.Stderr)
		os.Exit(status.Code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	fmt.Println(out)
}

// run executes one subcommand and returns its one-line result.
func run(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	if len(args) == 0 {
		return "", fmt.Errorf("slipway-evidence: no subcommand: attest or record-scan: %w", errUsage)
	}
	switch sub := args[0]; sub {
	case "attest":
		return runAttest(ctx, args[1:], getenv)
	case "record-scan":
		return runRecordScan(ctx, args[1:], getenv)
	default:
		return "", fmt.Errorf("slipway-evidence: unknown subcommand %q: attest or record-scan: %w", sub, errUsage)
	}
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
		if d, err = evidence.ParseDigest(*image); err != nil {
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
		if d, err = evidence.ParseDigest(out); err != nil {
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
	line, err := sign(ctx, s, d, docs, p, evidence.RegistryOptionsFromEnv(getenv))
	if err != nil {
		return "", failed("attest", fmt.Errorf("%s: %w", stage, err))
	}
	return pushed + line, nil
}

// runRecordScan records a scan's outcome as evidence next to the image, for
// production's gate (the latest scan decides there, clean or not).
func runRecordScan(ctx context.Context, args []string, getenv func(string) string) (string, error) {
	const stage = "record-scan"
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	image := fs.String("image", "", "the scanned image, as repository@sha256:digest")
	scanner := fs.String("scanner", "trivy", "the scanner")
	threshold := fs.String("threshold", "HIGH,CRITICAL", "the severities that count as findings")
	findings := fs.Int("findings", -1, "how many findings at or above the threshold")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	if *findings < 0 {
		return "", fmt.Errorf("%s: --findings is required (0 or more): %w", stage, errUsage)
	}
	store, note, err := evidence.StoreFromEnv(getenv)
	if err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	if err := evidence.RecordScan(ctx, store, *image, *scanner, *threshold, *findings); err != nil {
		return "", fmt.Errorf("%s: %w", stage, err)
	}
	return "scan " + note, nil
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
