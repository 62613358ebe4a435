package attest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// DefaultBuilderID is the SLSA builder.id of builds slipway runs.
	DefaultBuilderID = "https://github.com/slipway-ci/slipway"
	// BuildType is the SLSA buildType of a slipway build: a Dagger
	// function call, whose name and arguments are the external
	// parameters.
	BuildType = "https://github.com/slipway-ci/slipway/buildtypes/dagger-call/v1"
	// GoModuleH1 is the digest algorithm of a Go module's go.sum hash
	// (h1:, base64), in a resolved dependency's digest set.
	GoModuleH1 = "goModuleH1"
)

// Provenance says how an image was built, for SLSA provenance v1.
type Provenance struct {
	// BuilderID is builder.id; empty means DefaultBuilderID.
	BuilderID string
	// SlipwayVersion and DaggerVersion are the builder's versions.
	SlipwayVersion, DaggerVersion string
	// Repository is the source repository's URL, Revision its commit, and
	// Ref the branch or tag built (optional).
	Repository, Revision, Ref string
	// Function is the Dagger function called (such as "publish"),
	// Arguments its arguments by name, and Secrets the names of the
	// secrets it was given: names only, never values.
	Function  string
	Arguments map[string]string
	Secrets   []string
	// GoSum is the built module's go.sum: each module it holds is a
	// resolved dependency with its h1: hash.
	GoSum []byte
	// BaseImages are the images the build started from (the Go image,
	// the runtime base), as repository@sha256:digest references.
	BaseImages []string
	// InvocationID identifies the run: a CI job URL or ID.
	InvocationID string
	// Started and Finished bound the build.
	Started, Finished time.Time
}

// Predicate returns the SLSA provenance v1 predicate, checked.
func (p Provenance) Predicate() (*slsa.Provenance, error) {
	var problems []string
	if p.Repository == "" {
		problems = append(problems, "the source repository is missing (Repository)")
	}
	if p.Revision == "" {
		problems = append(problems, "the source revision is missing (Revision)")
	}
	if p.Function == "" {
		problems = append(problems, "the function called is missing (Function)")
	}
	if p.Started.IsZero() || p.Finished.IsZero() || p.Finished.Before(p.Started) {
		problems = append(problems, "the start and finish times are missing or out of order (Started, Finished)")
	}
	secret := map[string]bool{}
	for _, s := range p.Secrets {
		secret[s] = true
	}
	for k := range p.Arguments {
		if secret[k] {
			problems = append(problems, fmt.Sprintf("argument %q is a secret: give secrets by name in Secrets, never their values in Arguments", k))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("attest: provenance: %s", strings.Join(problems, "; "))
	}
	args := map[string]any{}
	for k, v := range p.Arguments {
		args[k] = v
	}
	secrets := make([]any, 0, len(p.Secrets))
	for _, s := range sortedCopy(p.Secrets) {
		secrets = append(secrets, s)
	}
	source := map[string]any{"repository": p.Repository, "revision": p.Revision}
	if p.Ref != "" {
		source["ref"] = p.Ref
	}
	ext, err := structpb.NewStruct(map[string]any{
		"function":  p.Function,
		"arguments": args,
		"secrets":   secrets,
		"source":    source,
	})
	if err != nil {
		return nil, fmt.Errorf("attest: provenance: %w", err)
	}
	deps := []*intoto.ResourceDescriptor{{
		Uri:    "git+" + p.Repository + refSuffix(p.Ref),
		Digest: map[string]string{"gitCommit": p.Revision},
	}}
	for _, ref := range p.BaseImages {
		img, err := name.NewDigest(ref)
		if err != nil {
			return nil, fmt.Errorf("attest: provenance: base image %q is not pinned by digest (repository@sha256:...): %w", ref, err)
		}
		alg, hexDigest, err := splitDigest(img.DigestStr())
		if err != nil {
			return nil, err
		}
		deps = append(deps, &intoto.ResourceDescriptor{Name: img.Context().Name(), Digest: map[string]string{alg: hexDigest},
			MediaType: "application/vnd.oci.image.index.v1+json"})
	}
	mods, err := GoSumModules(p.GoSum)
	if err != nil {
		return nil, err
	}
	deps = append(deps, mods...)
	builderID := p.BuilderID
	if builderID == "" {
		builderID = DefaultBuilderID
	}
	version := map[string]string{}
	if p.SlipwayVersion != "" {
		version["slipway"] = p.SlipwayVersion
	}
	if p.DaggerVersion != "" {
		version["dagger"] = p.DaggerVersion
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails: &slsa.RunDetails{
			Builder: &slsa.Builder{Id: builderID, Version: version},
			Metadata: &slsa.BuildMetadata{InvocationId: p.InvocationID,
				StartedOn: timestamppb.New(p.Started), FinishedOn: timestamppb.New(p.Finished)},
		},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("attest: provenance: %w", err)
	}
	return pred, nil
}

func refSuffix(ref string) string {
	if ref == "" {
		return ""
	}
	return "@" + ref
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// GoSumModules turns go.sum into resolved dependencies: one per module
// version with its source hash (lines for a go.mod alone are skipped: no
// code of that version is built), named by package URL
// (pkg:golang/PATH@VERSION), sorted.
func GoSumModules(goSum []byte) ([]*intoto.ResourceDescriptor, error) {
	var out []*intoto.ResourceDescriptor
	sc := bufio.NewScanner(bytes.NewReader(goSum))
	n := 0
	for sc.Scan() {
		n++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || !strings.HasPrefix(f[2], "h1:") {
			return nil, fmt.Errorf("attest: go.sum line %d is not \"module version h1:hash\": %q", n, sc.Text())
		}
		if strings.HasSuffix(f[1], "/go.mod") {
			continue
		}
		out = append(out, &intoto.ResourceDescriptor{
			Uri:    "pkg:golang/" + f[0] + "@" + f[1],
			Digest: map[string]string{GoModuleH1: strings.TrimPrefix(f[2], "h1:")},
		})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Uri < out[j].Uri })
	return out, nil
}

// AttestProvenance signs p as SLSA provenance v1 about image and attaches
// it.
func (s *Signer) AttestProvenance(ctx context.Context, image name.Digest, p Provenance, opts ...remote.Option) (v1.Hash, error) {
	pred, err := p.Predicate()
	if err != nil {
		return v1.Hash{}, err
	}
	raw, err := protojson.Marshal(pred)
	if err != nil {
		return v1.Hash{}, err
	}
	return s.Attest(ctx, image, SLSAProvenancePredicate, jsonObject(raw), opts...)
}

// jsonObject passes already-encoded JSON through Statement unchanged.
type jsonObject []byte

func (j jsonObject) MarshalJSON() ([]byte, error) { return j, nil }

// DecodeProvenance reads the SLSA provenance of a verified attestation.
func DecodeProvenance(a Attestation) (*slsa.Provenance, error) {
	if a.PredicateType() != SLSAProvenancePredicate {
		return nil, fmt.Errorf("attest: a %s attestation is not SLSA provenance", a.PredicateType())
	}
	raw, err := a.PredicateJSON()
	if err != nil {
		return nil, err
	}
	var p slsa.Provenance
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("attest: the provenance does not decode: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("attest: the provenance is not valid: %w", err)
	}
	return &p, nil
}

// Source returns the repository and revision a provenance records.
func Source(p *slsa.Provenance) (repository, revision string, err error) {
	src := p.GetBuildDefinition().GetExternalParameters().GetFields()["source"].GetStructValue().GetFields()
	repository, revision = src["repository"].GetStringValue(), src["revision"].GetStringValue()
	if repository == "" || revision == "" {
		return "", "", errors.New("attest: the provenance records no source repository and revision")
	}
	return repository, revision, nil
}

// SubjectDigests returns the digests a statement is about, as
// "alg:hex".
func SubjectDigests(st *intoto.Statement) []string {
	var out []string
	for _, s := range st.GetSubject() {
		for alg, d := range s.GetDigest() {
			out = append(out, alg+":"+d)
		}
	}
	sort.Strings(out)
	return out
}
