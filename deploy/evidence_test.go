package deploy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/internal/registrytest"
	"github.com/slipway-ci/slipway/pipeline"
)

// pushImage pushes a random image to an in-process registry with the
// referrers API, returning its digest reference.
func pushImage(t testing.TB) name.Digest {
	return registrytest.PushRandom(t, registrytest.Serve(t), "shop/web", "build", 256)
}

func TestReferrersRoundTrip(t *testing.T) {
	ctx := context.Background()
	d := pushImage(t)
	store := deploy.NewReferrers()
	if evs, err := store.Evidence(ctx, d); err != nil || len(evs) != 0 {
		t.Fatalf("fresh image: %v %v, want no evidence", evs, err)
	}
	if err := store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true, Revision: "2"}); err != nil {
		t.Fatal(err)
	}
	if err := deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	evs, err := store.Evidence(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("%d evidence records, want 2: %+v", len(evs), evs)
	}
	kinds := map[deploy.EvidenceKind]deploy.Evidence{}
	for _, ev := range evs {
		kinds[ev.Kind] = ev
		if ev.Image != d.String() || ev.Time.IsZero() {
			t.Errorf("evidence %+v: want image %s and a time", ev, d)
		}
	}
	if st := kinds[deploy.Deployed]; st.Environment != "staging" || !st.Verified || st.Revision != "2" {
		t.Errorf("deployed evidence %+v", st)
	}
	if sc := kinds[deploy.Scanned]; !sc.Clean || sc.Scanner != "trivy" {
		t.Errorf("scan evidence %+v", sc)
	}
	// The evidence is an OCI referrer with slipway's artifact type.
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 2 || im.Manifests[0].ArtifactType != deploy.EvidenceArtifactType {
		t.Fatalf("referrers %+v, want two of type %s", im.Manifests, deploy.EvidenceArtifactType)
	}
}

func TestRecordNeedsTheImage(t *testing.T) {
	d := pushImage(t)
	other := d.Context().Digest("sha256:" + strings.Repeat("c", 64))
	err := deploy.NewReferrers().Record(context.Background(), other, deploy.Evidence{Kind: deploy.Deployed})
	if err == nil || !strings.Contains(err.Error(), "reading the image manifest") {
		t.Fatalf("Record on a missing image: %v, want a clear error", err)
	}
}

func TestPromotionGate(t *testing.T) {
	ctx := context.Background()
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: "shop"}
	approved := &deploy.Approval{By: "release-manager"}
	type step func(store deploy.EvidenceStore, d name.Digest) error
	staged := func(store deploy.EvidenceStore, d name.Digest) error {
		return store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "staging", Tier: pipeline.Staging, Verified: true})
	}
	stagedElsewhere := func(store deploy.EvidenceStore, d name.Digest) error {
		return store.Record(ctx, d, deploy.Evidence{Kind: deploy.Deployed, Environment: "review-42", Tier: pipeline.Development, Verified: true})
	}
	clean := func(store deploy.EvidenceStore, d name.Digest) error {
		return deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 0)
	}
	dirty := func(store deploy.EvidenceStore, d name.Digest) error {
		return deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 2)
	}
	for _, tc := range []struct {
		name     string
		steps    []step
		approval *deploy.Approval
		want     []error // failed checks; none means allowed
		wantText string
	}{
		{name: "all evidence and approval", steps: []step{staged, clean}, approval: approved},
		{name: "nothing", want: []error{deploy.ErrNotVerifiedInStaging, deploy.ErrNotScannedClean, deploy.ErrNotApproved}},
		{name: "no staging", steps: []step{clean}, approval: approved, want: []error{deploy.ErrNotVerifiedInStaging}, wantText: "deploy this digest there first"},
		{name: "staged in another tier", steps: []step{stagedElsewhere, clean}, approval: approved, want: []error{deploy.ErrNotVerifiedInStaging}},
		{name: "dirty scan", steps: []step{staged, dirty}, approval: approved, want: []error{deploy.ErrNotScannedClean}, wantText: "found 2 vulnerabilities"},
		{name: "rescan after a clean one finds something", steps: []step{staged, clean, dirty}, approval: approved, want: []error{deploy.ErrNotScannedClean}},
		{name: "no approval", steps: []step{staged, clean}, want: []error{deploy.ErrNotApproved}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pushImage(t)
			store := deploy.NewReferrers()
			for _, s := range tc.steps {
				if err := s(store, d); err != nil {
					t.Fatal(err)
				}
			}
			gate := &deploy.PromotionGate{Store: store}
			err := gate.Allow(ctx, prod, deploy.Release{Image: d.String(), Approval: tc.approval})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				return
			}
			var gerr *deploy.GateError
			if !errors.As(err, &gerr) {
				t.Fatalf("Allow: %v, want a *GateError", err)
			}
			if len(gerr.Failed) != len(tc.want) {
				t.Errorf("failed checks %q, want %v", gerr.Failed, tc.want)
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), `environment "production" refuses`) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantText)
			}
		})
	}
}

// fakeDeployer records calls: the wrapper tests only care whether the
// wrapped Deployer ran.
type fakeDeployer struct {
	calls int
	// checked is the post-deploy check the deploy says passed; empty is
	// the rollout alone.
	checked string
}

func (f *fakeDeployer) Deploy(_ context.Context, r deploy.Release) (*deploy.Result, error) {
	f.calls++
	return &deploy.Result{Image: r.Image, Namespace: "shop", Revision: "1", Verification: f.checked, Verified: f.checked != ""}, nil
}

func TestGatedAndRecording(t *testing.T) {
	ctx := context.Background()
	d := pushImage(t)
	store := deploy.NewReferrers()
	gate := &deploy.PromotionGate{Store: store, Staging: "staging"}
	staging := deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: "shop-staging"}
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: "shop"}
	rel := deploy.Release{Image: d.String(), Approval: &deploy.Approval{By: "ops"}}

	inner := &fakeDeployer{}
	toProd := deploy.Gated(inner, prod, gate)
	if _, err := toProd.Deploy(ctx, rel); !errors.Is(err, deploy.ErrNotVerifiedInStaging) {
		t.Fatalf("production before staging: %v, want refusal", err)
	}
	if inner.calls != 0 {
		t.Fatal("the gate let a refused release through")
	}
	toStaging := deploy.Gated(deploy.Recording(&fakeDeployer{}, staging, store), staging, gate)
	if _, err := toStaging.Deploy(ctx, deploy.Release{Image: d.String()}); err != nil {
		t.Fatalf("staging is not gated: %v", err)
	}
	if _, err := toProd.Deploy(ctx, rel); !errors.Is(err, deploy.ErrNotScannedClean) || errors.Is(err, deploy.ErrNotVerifiedInStaging) {
		t.Fatalf("after staging, before the scan: %v, want only the scan check to fail", err)
	}
	if err := deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := toProd.Deploy(ctx, rel); err != nil || inner.calls != 1 {
		t.Fatalf("with evidence and approval: %v (calls %d)", err, inner.calls)
	}
}

// TestRequireVerification: staging evidence records what the post-deploy
// check verified; a gate that requires verification refuses a digest whose
// staging deploy only rolled out (--no-verify), naming why and the fix,
// and accepts it once a verified staging deploy is recorded. Without the
// requirement the rollout's evidence is enough, as before.
func TestRequireVerification(t *testing.T) {
	ctx := context.Background()
	d := pushImage(t)
	store := deploy.NewReferrers()
	staging := deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: "shop-staging"}
	prod := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: "shop"}
	rel := deploy.Release{Image: d.String(), Approval: &deploy.Approval{By: "ops"}}
	if err := deploy.RecordScan(ctx, store, d.String(), "trivy", "HIGH,CRITICAL", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy.Recording(&fakeDeployer{}, staging, store).Deploy(ctx, deploy.Release{Image: d.String()}); err != nil {
		t.Fatal(err)
	}
	evs, err := store.Evidence(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == deploy.Deployed && (!ev.Verified || ev.Checks != "") {
			t.Errorf("a rollout-only staging deploy recorded %+v, want Verified (it rolled out) and no Checks", ev)
		}
	}
	lenient := &deploy.PromotionGate{Store: store, Staging: "staging"}
	if _, err := deploy.Gated(&fakeDeployer{}, prod, lenient).Deploy(ctx, rel); err != nil {
		t.Fatalf("without the requirement, the rollout's evidence is enough: %v", err)
	}
	strict := &deploy.PromotionGate{Store: store, Staging: "staging", RequireVerification: true}
	inner := &fakeDeployer{}
	_, err = deploy.Gated(inner, prod, strict).Deploy(ctx, rel)
	if !errors.Is(err, deploy.ErrNotVerifiedInStaging) || inner.calls != 0 {
		t.Fatalf("a rollout-only staging deploy passed a gate that requires verification: %v (calls %d)", err, inner.calls)
	}
	for _, want := range []string{"says only that it rolled out", "--no-verify", "--verify-path", "--require-verification"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal lacks %q: %v", want, err)
		}
	}
	check := "smoke test: GET /health 200, GET /ready 200 for 5s"
	if _, err := deploy.Recording(&fakeDeployer{checked: check}, staging, store).Deploy(ctx, deploy.Release{Image: d.String()}); err != nil {
		t.Fatal(err)
	}
	if evs, err = store.Evidence(ctx, d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range evs {
		found = found || (ev.Kind == deploy.Deployed && ev.Checks == check)
	}
	if !found {
		t.Errorf("the verified staging deploy's evidence does not record its checks: %+v", evs)
	}
	if _, err := deploy.Gated(inner, prod, strict).Deploy(ctx, rel); err != nil || inner.calls != 1 {
		t.Fatalf("after a verified staging deploy: %v (calls %d)", err, inner.calls)
	}
}
