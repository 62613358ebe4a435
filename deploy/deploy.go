// Package deploy rolls a service out to Kubernetes the way slipway promises:
// the exact image digest that was built, tested and scanned, applied with
// server-side apply, watched until Kubernetes itself calls the rollout
// complete, and rolled back by itself when it is not.
//
// The pieces follow ko and go-containerregistry: one small interface per
// concern (Deployer, EvidenceStore, Gate), a client-go implementation of
// each, and wrappers that add behaviour (Gated refuses production without
// evidence and approval, Recording writes evidence after a verified
// deploy).
//
//	d, err := deploy.New(env)  // env.Kubeconfig comes from a Dagger secret
//	res, err := d.Deploy(ctx, deploy.Release{Bundle: objs, Image: "registry/app@sha256:..."})
package deploy

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/slipway-ci/slipway/pipeline"
)

// FieldManager is the server-side apply field manager of every write.
const FieldManager = "slipway"

// Deployer rolls one release out to one environment.
type Deployer interface {
	// Deploy applies the release and returns once the rollout is complete.
	// A rollout that fails is rolled back before Deploy returns; the error
	// is then a *RolloutError naming the failing pods. A failed first
	// deploy has nothing to roll back to: what it created is removed
	// instead (RolloutError.Removed), what existed before it is left.
	Deploy(ctx context.Context, r Release) (*Result, error)
}

// Release is what to deploy: the service's objects and the image digest.
type Release struct {
	// Bundle holds the objects to apply (Deployments, Services,
	// ConfigMaps, HPAs, ...). Namespaced objects go into the
	// environment's namespace whatever their metadata says.
	Bundle []*unstructured.Unstructured
	// Image is the image to run, by digest: registry/repo@sha256:<hex>
	// (a tag may precede the digest). A tag alone is refused.
	Image string
	// Deployment names the Deployment whose rollout is the release; empty
	// means the only Deployment in Bundle.
	Deployment string
	// Container names the container that gets Image; empty means the only
	// container of that Deployment.
	Container string
	// Approval is the explicit go-ahead a production deploy needs (see
	// Gated); it is ignored elsewhere.
	Approval *Approval
}

// Approval records who allowed a production deploy. In CI it is filled
// from the gate itself (GitLab's manual job user, GitHub's environment
// reviewer): slipway only refuses to go on without it.
type Approval struct {
	By     string
	Reason string
}

// Result describes a completed rollout.
type Result struct {
	Environment string
	Namespace   string
	Deployment  string
	Image       string // the digest reference now running
	Revision    string // the Deployment's revision annotation
	Applied     []string
	Duration    time.Duration
	// Verification says what the smoke test checked and that it passed
	// (WithVerifyPaths); empty when none ran.
	Verification string
	// Verified says a post-deploy check ran and passed: the smoke test
	// probed the service, its alerts stayed quiet (WithAlerts), or the
	// WithVerify hook passed. It is false when the rollout alone was
	// waited for (no verification asked for, or a Deployment with nothing
	// to probe), which production's gate can refuse
	// (PromotionGate.RequireVerification).
	Verified bool
}

// Environment is one deployment target. Staging and production are values
// of this type; what differs is Tier (production is gated, see Gated).
type Environment struct {
	Name      string
	Tier      pipeline.Tier
	Namespace string
	// Kubeconfig yields the kubeconfig: in CI a Dagger secret
	// (KubeconfigBytes of its plaintext), locally a file or variable.
	Kubeconfig KubeconfigSource
	// URL is where the environment's service answers (reported, and used
	// by a verification hook).
	URL string
	// Replicas, when above zero, overrides the Deployment's replicas.
	Replicas int32
	// NodeSelector, when not empty, is added to the nodeSelector of every
	// pod template the deploy applies (PlacePods): where the environment's
	// pods must run. On slipway's local cluster that is
	// slipway.dev/node=real, the one node whose containers really run (its
	// other nodes are kwok's, which only write a status).
	NodeSelector map[string]string
}

func (e Environment) String() string {
	return fmt.Sprintf("%s (namespace %s)", e.Name, e.Namespace)
}
