package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Client deploys to one environment with client-go.
type Client struct {
	env     Environment
	cfg     *rest.Config
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	mapper  *mapper
	opts    options
	verify  func(ctx context.Context, env Environment, r *Result) error
	nowFunc func() time.Time
}

var _ Deployer = (*Client)(nil)

type options struct {
	rolloutTimeout   time.Duration
	rollbackTimeout  time.Duration
	requestTimeout   time.Duration
	discoveryTimeout time.Duration
	applyRetryFor    time.Duration
	rollback         bool
	force            bool
	kube             kubernetes.Interface
	dyn              dynamic.Interface
	tunnel           string
	verifyPaths      []string
	verifyFromProbes bool
	verifyWindow     time.Duration
	alerts           *Alerts
}

// Option configures a Client.
type Option func(*options)

// WithRolloutTimeout bounds the wait for a rollout (default 10 minutes).
// The Deployment's own progressDeadlineSeconds usually ends a stuck rollout
// first; this is the outer limit. Expiry counts as a failed rollout.
func WithRolloutTimeout(d time.Duration) Option { return func(o *options) { o.rolloutTimeout = d } }

// WithRollbackTimeout bounds the wait for the rolled-back revision to be
// healthy again, or for what a failed first deploy created to be gone
// (default 5 minutes).
func WithRollbackTimeout(d time.Duration) Option { return func(o *options) { o.rollbackTimeout = d } }

// WithRequestTimeout bounds each API request (default 30 seconds).
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// WithDiscoveryTimeout bounds the API discovery a deploy needs for kinds
// slipway does not know by itself (custom resources, ...): default 30
// seconds for all of it, less when the caller's context ends first. Past
// it the deploy fails, before anything is applied, naming the APIServices
// that are not available: a broken aggregated API server (metrics-server,
// say) makes discovery fail or hang for every client of the cluster.
func WithDiscoveryTimeout(d time.Duration) Option {
	return func(o *options) { o.discoveryTimeout = d }
}

// WithApplyRetry keeps retrying the apply for d while the API server is
// unreachable or overloaded (a restart, a failover); default 30 seconds, 0
// fails on the first error.
func WithApplyRetry(d time.Duration) Option { return func(o *options) { o.applyRetryFor = d } }

// WithoutRollback leaves a failed rollout as it is (for debugging): no
// rollback, and a failed first deploy's objects are not removed.
func WithoutRollback() Option { return func(o *options) { o.rollback = false } }

// WithoutForce makes apply conflicts with other field managers errors
// instead of taking the fields over (kubectl apply --server-side without
// --force-conflicts).
func WithoutForce() Option { return func(o *options) { o.force = false } }

// WithTunnel sends every request to hostport (a tunnel's local end, such
// as the endpoint of a Dagger host service) instead of the kubeconfig's
// server, while still verifying the server certificate against the
// kubeconfig's server name: the tunnel changes the route, not the identity.
func WithTunnel(hostport string) Option { return func(o *options) { o.tunnel = hostport } }

// WithClients uses the given clients instead of building them from the
// environment's kubeconfig (tests inject faults this way).
func WithClients(kube kubernetes.Interface, dyn dynamic.Interface) Option {
	return func(o *options) { o.kube, o.dyn = kube, dyn }
}

// New returns a Client for env. It reads the kubeconfig now, so that a
// missing or broken secret is reported before anything else happens; it
// does not contact the cluster yet.
func New(ctx context.Context, env Environment, opts ...Option) (*Client, error) {
	o := options{rolloutTimeout: 10 * time.Minute, rollbackTimeout: 5 * time.Minute, requestTimeout: 30 * time.Second, discoveryTimeout: 30 * time.Second, applyRetryFor: 30 * time.Second, rollback: true, force: true}
	for _, opt := range opts {
		opt(&o)
	}
	prefix := fmt.Sprintf("deploy: environment %q", env.Name)
	if env.Namespace == "" {
		return nil, fmt.Errorf("%s: no namespace: set Environment.Namespace", prefix)
	}
	c := &Client{env: env, opts: o, kube: o.kube, dyn: o.dyn, nowFunc: time.Now}
	if c.kube == nil || c.dyn == nil {
		if env.Kubeconfig == nil {
			return nil, fmt.Errorf("%s: no kubeconfig: set Environment.Kubeconfig (in CI: the kubeconfig secret)", prefix)
		}
		raw, err := env.Kubeconfig.Kubeconfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: kubeconfig: %w", prefix, err)
		}
		cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: kubeconfig is not usable: %w", prefix, err)
		}
		cfg.Timeout = o.requestTimeout
		if o.tunnel != "" {
			if err := tunnel(cfg, o.tunnel); err != nil {
				return nil, fmt.Errorf("%s: %w", prefix, err)
			}
		}
		// A deploy is a short burst of requests: the default client-side
		// limit (5 qps) would only add latency.
		cfg.QPS, cfg.Burst = 50, 100
		cfg.UserAgent = "slipway-deploy"
		c.cfg = cfg
		if c.kube, err = kubernetes.NewForConfig(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
		if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
	}
	disc := c.kube.Discovery()
	if c.cfg != nil {
		// Discovery gets its own per-request timeout: client-go's discovery
		// calls take no context, so this is what ends a request to a hung
		// server after the deploy has given up on it.
		dcfg := rest.CopyConfig(c.cfg)
		dcfg.Timeout = o.discoveryTimeout
		d, err := discovery.NewDiscoveryClientForConfig(dcfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", prefix, err)
		}
		disc = d
	}
	c.mapper = newMapper(disc, c.dyn, o.discoveryTimeout)
	return c, nil
}

func tunnel(cfg *rest.Config, hostport string) error {
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return fmt.Errorf("tunnel: the kubeconfig's server %q is not a URL", cfg.Host)
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return fmt.Errorf("tunnel: %q is not HOST:PORT: %w", hostport, err)
	}
	if cfg.TLSClientConfig.ServerName == "" {
		cfg.TLSClientConfig.ServerName = u.Hostname()
	}
	u.Host = hostport
	cfg.Host = u.String()
	return nil
}

// WithVerify returns a copy of c that runs check after every completed
// rollout (a smoke test against env.URL, say). A failed check counts as a
// failed rollout: it is rolled back.
func (c *Client) WithVerify(check func(ctx context.Context, env Environment, r *Result) error) *Client {
	cp := *c
	cp.verify = check
	return &cp
}

// Environment is the environment c deploys to.
func (c *Client) Environment() Environment { return c.env }

// wellKnown maps the kinds a service bundle holds without asking discovery:
// one request fewer per deploy, and a deploy that still works while
// discovery of some aggregated API is broken.
var wellKnown = map[schema.GroupVersionKind]*meta.RESTMapping{}

func init() {
	for _, m := range []struct {
		gvk      schema.GroupVersionKind
		resource string
		cluster  bool
	}{
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "secrets", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "ServiceAccount"}, "serviceaccounts", false},
		{schema.GroupVersionKind{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, "horizontalpodautoscalers", false},
		{schema.GroupVersionKind{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"}, "poddisruptionbudgets", false},
		{schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, "ingresses", false},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", true},
	} {
		scope := meta.RESTScopeNamespace
		if m.cluster {
			scope = meta.RESTScopeRoot
		}
		wellKnown[m.gvk] = &meta.RESTMapping{Resource: m.gvk.GroupVersion().WithResource(m.resource), GroupVersionKind: m.gvk, Scope: scope}
	}
}

// explain turns client errors into what the user must fix.
func (c *Client) explain(err error) error {
	if err == nil {
		return nil
	}
	host := ""
	if c.cfg != nil {
		host = c.cfg.Host
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (RBAC denied this: grant the deploy identity of environment %q create/patch/get/list/watch on these resources in namespace %q, or use another kubeconfig)", err, c.env.Name, c.env.Namespace)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w (the API server does not accept the kubeconfig's credentials: an expired token or a kubeconfig for another cluster?)", err)
	case unreachable(err):
		return fmt.Errorf("cannot reach the API server %s: %w (is the cluster running, and is its address reachable from here?)", host, err)
	}
	return err
}

// unreachable reports connection-level failures: refused, reset, DNS,
// timeouts. They are retried while applying and explained otherwise.
func unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	var oe *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &oe) || (errors.As(err, &ue) && errors.As(err, &ne))
}

// transient reports errors worth retrying: the API server is restarting,
// overloaded, or the connection dropped.
func transient(err error) bool {
	return unreachable(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

// retryTransient runs fn until it succeeds, fails for good, or the apply
// retry window closes; backoff grows from 100 ms to 2 s.
func (c *Client) retryTransient(ctx context.Context, fn func(context.Context) error) error {
	deadline := time.Now().Add(c.opts.applyRetryFor)
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: 2 * time.Second}
	for {
		err := fn(ctx)
		if err == nil || !transient(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(backoff.Step()):
		}
	}
}
