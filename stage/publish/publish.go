// Package publish pushes an image and attaches its signed evidence in one
// exec: the build job's publish with a signing key.
//
// The stages it combines each work on their own (ociregistry.Push,
// sbom.Container, kube.Attest), and that is how publish ran them: the SBOM
// in its own container while the push ran, then the deploy tool's
// container to sign. Each container start is a fixed cost the build job
// waited for after its push (here 0.35 s of a 0.7 s signing step), so
// Signed runs all three in the push's container: the SBOM is made while
// the image is pushed, and the digest is signed and the SBOM and the
// provenance attached as soon as both are done.
package publish

import (
	"context"
	"fmt"
	"strings"

	"dagger.io/dagger"
	"golang.org/x/sync/errgroup"

	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// Result is what Signed published and attested.
type Result struct {
	// Ref is the image pushed, repository@sha256:digest.
	Ref string
	// Attested is the deploy tool's line: the digest signed, the key's ID
	// and what was attached.
	Attested string
	// SBOM is the image's SBOM, its Subject the digest.
	SBOM *sbom.Result
}

// Option configures Signed.
type Option func(*config)

type config struct {
	push   []ociregistry.Option
	sbom   []sbom.Option
	attest []kube.Option
}

// WithPushOptions configures the push (the registry's credentials,
// insecure hosts, services), as for ociregistry.Push.
func WithPushOptions(opts ...ociregistry.Option) Option {
	return func(c *config) { c.push = append(c.push, opts...) }
}

// WithSBOMOptions configures the SBOM, as for sbom.Container.
func WithSBOMOptions(opts ...sbom.Option) Option {
	return func(c *config) { c.sbom = append(c.sbom, opts...) }
}

// WithAttestOptions configures the signing (kube.WithSigningKey is
// required, kube.WithRegistryAuth gives the credentials the referrers are
// pushed with), as for kube.Attest.
func WithAttestOptions(opts ...kube.Option) Option {
	return func(c *config) { c.attest = append(c.attest, opts...) }
}

// state is where the exec keeps what its parts print.
const state = "/run/publish"

// Signed pushes img to ref (repository[:tag]), makes its SBOM while the
// push runs, then signs the digest and attaches the SBOM (CycloneDX and
// SPDX) and, when b has one, the provenance as signed referrers. b's SBOM
// fields are ignored: the SBOM is made here. A push that fails fails as
// ociregistry.Push does, and nothing is signed. A signing key that does
// not load fails before the push. An SBOM that cannot be made, or a
// referrer the registry refuses, leaves the image pushed but not signed.
func Signed(ctx context.Context, client *dagger.Client, img *dagger.Container, ref string, b kube.Build, opts ...Option) (*Result, error) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	ctr, pushArgs, pushErr := ociregistry.Pushing(client, img, ref, c.push...)
	ctr, within := sbom.WithTrivy(client, ctr, img, c.sbom...)
	b.CycloneDX, b.SPDX = nil, nil
	b.CycloneDXPath, b.SPDXPath = within.Dir+"/"+sbom.CycloneDXFile, within.Dir+"/"+sbom.SPDXFile
	ctr, attestArgs, err := kube.Attesting(client, ctr, b, c.attest...)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	// The parts' exit statuses are kept apart: a refused push exits with
	// the push tool's own status, which ociregistry turns into its error.
	script := strings.Join([]string{
		"set -u",
		"s=" + state + " && mkdir -p $s",
		"( " + within.Command + " ) >$s/sbom.log 2>&1 & sbom=$!",
		// A key that cannot sign is found before anything is pushed. The
		// push is shorter than the SBOM, so this does not lengthen the
		// exec.
		"echo check >$s/failed",
		shellJoin(attestArgs) + " --check >/dev/null || exit $?",
		shellJoin(pushArgs) + " >$s/ref 2>$s/push.err & push=$!",
		"wait $sbom; sbom=$?",
		"wait $push; code=$?",
		`if [ $code -ne 0 ]; then echo push >$s/failed; cat $s/push.err >&2; exit $code; fi`,
		`if [ $sbom -ne 0 ]; then echo sbom >$s/failed; cat $s/sbom.log >&2; exit 1; fi`,
		"echo attest >$s/failed",
		`cat $s/ref`,
		shellJoin(attestArgs) + ` --image="$(cat $s/ref)" || exit $?`,
		"rm $s/failed",
	}, "\n")
	ctr = ctr.WithExec([]string{"sh", "-c", script}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish: pushing and signing %s: %v", ref, err)
	}
	if code != 0 {
		part, _ := ctr.File(state + "/failed").Contents(ctx)
		stderr, _ := ctr.Stderr(ctx)
		msg := strings.TrimSpace(stderr)
		switch strings.TrimSpace(part) {
		case "push":
			return nil, pushErr(code, stderr)
		case "sbom":
			return nil, fmt.Errorf("publish: the SBOM of %s: %s; the image is pushed but not signed", ref, msg)
		case "check":
			return nil, fmt.Errorf("publish: %s; nothing was pushed", msg)
		case "attest":
			return nil, fmt.Errorf("%s", msg)
		}
		return nil, fmt.Errorf("publish: pushing and signing %s failed with exit status %d: %s", ref, code, msg)
	}
	// The output and the SBOM are read at once: each read is a round
	// trip to the engine, and the build job waits for them.
	var out string
	var doc *sbom.Result
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		if out, err = ctr.Stdout(gctx); err != nil {
			return fmt.Errorf("publish: reading what was pushed and signed: %v", err)
		}
		return nil
	})
	g.Go(func() error {
		var err error
		if doc, err = sbom.Read(gctx, ctr, within, ref); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	// The first line is the push's repository@sha256:digest, the second
	// the deploy tool's.
	pushed, line, _ := strings.Cut(strings.TrimSpace(out), "\n")
	res := &Result{Ref: strings.TrimSpace(pushed), Attested: strings.TrimSpace(line), SBOM: doc}
	doc.Subject = res.Ref
	return res, nil
}

// shellJoin quotes args for sh -c.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
