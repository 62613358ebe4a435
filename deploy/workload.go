package deploy

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// This file exposes the pieces of a deploy that other deploy sources
// (deploy/helm, deploy/gitops) reuse, so that a Helm release or a GitOps
// promotion is judged, and its failure explained, exactly as a bundle's.

// WaitRollout watches the Deployment name in the environment's namespace
// until RolloutStatus calls the rollout of generation complete (or failed),
// for at most timeout (0: the client's rollout timeout). A dropped watch is
// re-opened; the API server briefly down is ridden through.
func (c *Client) WaitRollout(ctx context.Context, name string, generation int64, timeout time.Duration) (*appsv1.Deployment, error) {
	if timeout <= 0 {
		timeout = c.opts.rolloutTimeout
	}
	return c.waitRollout(ctx, name, generation, timeout)
}

// FailingPods names the pods of the Deployment's current revision that
// are not ready, and why (ImagePullBackOff, CrashLoopBackOff, ...).
func (c *Client) FailingPods(ctx context.Context, name string) ([]PodFailure, error) {
	dep, rss, err := c.revisions(ctx, name)
	if err != nil {
		return nil, c.explain(err)
	}
	cur := currentRS(dep, rss)
	if cur == nil {
		return nil, nil
	}
	return c.failingPods(ctx, cur), nil
}

// RESTConfig returns a copy of the REST config the client was built from
// (with the tunnel and timeouts applied), or nil when it was given its
// clients (WithClients). Other deploy sources build their own clients from
// it, so that they reach the cluster the same way.
func (c *Client) RESTConfig() *rest.Config {
	if c.cfg == nil {
		return nil
	}
	return rest.CopyConfig(c.cfg)
}

// Clients returns the typed and dynamic clients the deploy uses.
func (c *Client) Clients() (kubernetes.Interface, dynamic.Interface) { return c.kube, c.dyn }

// Explain adds what the user must fix to a client error: RBAC, rejected
// credentials, an unreachable API server.
func (c *Client) Explain(err error) error { return c.explain(err) }

// CheckNamespace fails, naming the fix, when the environment's namespace
// does not exist: slipway never deploys into a namespace a typo created.
func (c *Client) CheckNamespace(ctx context.Context) error {
	if err := c.checkNamespace(ctx); err != nil {
		return fmt.Errorf("deploy: environment %q: %w", c.env.Name, err)
	}
	return nil
}
