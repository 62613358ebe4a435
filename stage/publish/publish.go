// Package publish pushes an image and attaches its signed evidence in one
// exec: the build job's publish with a signing key.
//
// The stages it combines each work on their own (ociregistry.Push,
// sbom.Container, kube.Attest), and that is how publish ran them: the SBOM
// in its own container while the push ran, then the evidence tool's
// container to sign. Each container start is a fixed cost the build job
// waited for after its push (here 0.35 s of a 0.7 s signing step), so
// Signed runs all three in the push tool's container, with Trivy and the
// evidence tool mounted: the evidence tool starts the SBOM, checks the key,
// runs the push, and signs the digest and attaches the SBOM and the
// provenance once both are done (slipway-evidence attest --push-command).
package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"dagger.io/dagger"

	"github.com/slipway-ci/slipway/stage/kube"
	"github.com/slipway-ci/slipway/stage/ociregistry"
	"github.com/slipway-ci/slipway/stage/sbom"
)

// Result is what Signed published and attested.
type Result struct {
	// Ref is the image pushed, repository@sha256:digest.
	Ref string
	// Attested is the evidence tool's line: the digest signed, the key's ID
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

// state is the file the evidence tool names the failed part in.
const state = "/tmp/slipway-publish-failed"

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
	// The evidence tool runs the parts: the SBOM command from the start, the
	// push once the key is known to sign, the signing once both are done.
	// A refused push exits with the push tool's own status, which
	// ociregistry turns into its error.
	pushJSON, err := json.Marshal(pushArgs)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	sbomJSON, err := json.Marshal([]string{"sh", "-c", within.Command})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	args := append(attestArgs, "--push-command="+string(pushJSON), "--sbom-command="+string(sbomJSON), "--state="+state)
	ctr = ctr.WithExec(args, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	// The output and the SBOM are asked for with the exit code, not after
	// it: each is a round trip to the engine, which answers them all when
	// the exec ends, and the build job waits for the last.
	var (
		wg      sync.WaitGroup
		out     string
		outErr  error
		doc     *sbom.Result
		sbomErr error
	)
	wg.Add(2)
	go func() { defer wg.Done(); out, outErr = ctr.Stdout(ctx) }()
	go func() { defer wg.Done(); doc, sbomErr = sbom.Read(ctx, ctr, within, ref) }()
	code, err := ctr.ExitCode(ctx)
	wg.Wait()
	if err != nil {
		return nil, fmt.Errorf("publish: pushing and signing %s: %v", ref, err)
	}
	if code != 0 {
		part, _ := ctr.File(state).Contents(ctx)
		stderr, _ := ctr.Stderr(ctx)
		msg := strings.TrimSpace(stderr)
		switch strings.TrimSpace(part) {
		case "push":
			return nil, pushErr(code, stderr)
		case "check":
			return nil, fmt.Errorf("publish: %s; nothing was pushed", msg)
		}
		if msg == "" {
			msg = fmt.Sprintf("the evidence tool failed with exit status %d and no message", code)
		}
		return nil, fmt.Errorf("publish: %s", msg)
	}
	if outErr != nil {
		return nil, fmt.Errorf("publish: reading what was pushed and signed: %v", outErr)
	}
	if sbomErr != nil {
		return nil, fmt.Errorf("publish: %w", sbomErr)
	}
	// The first line is the push's repository@sha256:digest, the second
	// the evidence tool's.
	pushed, line, _ := strings.Cut(strings.TrimSpace(out), "\n")
	res := &Result{Ref: strings.TrimSpace(pushed), Attested: strings.TrimSpace(line), SBOM: doc}
	doc.Subject = res.Ref
	return res, nil
}
