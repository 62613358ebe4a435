package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

// ErrDiscovery marks a deploy that could not map a kind to its resource
// because the API server's discovery failed or did not answer.
var ErrDiscovery = errors.New("API discovery failed")

// mapper maps kinds to resources: the well-known kinds locally, the rest
// through discovery. It replaces client-go's DeferredDiscoveryRESTMapper
// over a memory cache, whose lookups take no context and which, when
// discovery keeps answering with no usable groups, resets and asks again
// without end. Here every discovery is one bounded attempt: at most
// timeout, less when the caller's context ends first.
type mapper struct {
	disc    discovery.DiscoveryInterface
	dyn     dynamic.Interface
	timeout time.Duration

	mu     sync.Mutex
	known  meta.RESTMapper               // from the last discovery; nil before the first
	failed map[schema.GroupVersion]error // group versions whose discovery failed
}

func newMapper(d discovery.DiscoveryInterface, dyn dynamic.Interface, timeout time.Duration) *mapper {
	return &mapper{disc: d, dyn: dyn, timeout: timeout}
}

// mapping answers well-known kinds locally and asks discovery for the rest
// (custom resources, ...). A kind the last discovery did not know is asked
// for once more (a CRD installed since), never more.
func (m *mapper) mapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	if rm, ok := wellKnown[gvk]; ok {
		return rm, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.known != nil {
		if rm, err := m.known.RESTMapping(gvk.GroupKind(), gvk.Version); err == nil {
			return rm, nil
		}
	}
	if err := m.discover(ctx, gvk); err != nil {
		return nil, err
	}
	rm, err := m.known.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		if ferr, ok := m.failed[gvk.GroupVersion()]; ok {
			// The group exists but its server did not answer: saying "not
			// served" would let Served skip an object that is meant to be
			// deployed.
			return nil, fmt.Errorf("%w: discovery of %s (for kind %s) failed: %v: the aggregated API server behind it is down or broken; %s",
				ErrDiscovery, gvk.GroupVersion(), gvk.Kind, ferr, m.diagnose(ctx))
		}
	}
	return rm, err
}

func kindName(gvk schema.GroupVersionKind) string {
	return fmt.Sprintf("%s (%s)", gvk.Kind, gvk.GroupVersion())
}

type discovered struct {
	groups []*restmapper.APIGroupResources
	failed map[schema.GroupVersion]error
	err    error
}

// discover runs one discovery of the whole API, bounded by m.timeout and
// ctx. client-go's discovery takes no context: the call runs aside and is
// abandoned on expiry (its own per-request timeout, set in New, ends it).
func (m *mapper) discover(parent context.Context, gvk schema.GroupVersionKind) error {
	ctx, cancel := context.WithTimeout(parent, m.timeout)
	defer cancel()
	done := make(chan discovered, 1)
	go func() { done <- discoverOnce(m.disc) }()
	timedOut := func() error {
		return fmt.Errorf("%w: the API server's discovery did not answer within %s while looking up kind %s; %s, or raise deploy.WithDiscoveryTimeout", ErrDiscovery, m.timeout, kindName(gvk), m.diagnose(parent))
	}
	select {
	case d := <-done:
		var ne net.Error
		switch {
		case errors.As(d.err, &ne) && ne.Timeout():
			// The per-request timeout (the same length, set in New) can
			// fire a moment before ctx: the same story.
			return timedOut()
		case d.err != nil:
			return fmt.Errorf("%w: the API server's discovery failed while looking up kind %s: %v; %s", ErrDiscovery, kindName(gvk), d.err, m.diagnose(parent))
		}
		m.known = restmapper.NewDiscoveryRESTMapper(d.groups)
		m.failed = d.failed
		return nil
	case <-ctx.Done():
		if err := parent.Err(); err != nil {
			return fmt.Errorf("%w: the API server's discovery had not answered when the deploy was stopped (%v) while looking up kind %s", ErrDiscovery, context.Cause(parent), kindName(gvk))
		}
		return timedOut()
	}
}

// discoverOnce is restmapper.GetAPIGroupResources keeping the group
// versions that failed, so that a kind of a failed group is reported as
// such and not as "not served".
func discoverOnce(d discovery.DiscoveryInterface) discovered {
	gs, rs, err := discovery.ServerGroupsAndResources(d)
	failed, partial := discovery.GroupDiscoveryFailedErrorGroups(err)
	if gs == nil || rs == nil || (err != nil && !partial) {
		if err == nil {
			err = errors.New("it returned no API groups")
		}
		return discovered{err: err}
	}
	byGV := map[string]*metav1.APIResourceList{}
	for _, r := range rs {
		byGV[r.GroupVersion] = r
	}
	var out []*restmapper.APIGroupResources
	for _, g := range gs {
		gr := &restmapper.APIGroupResources{Group: *g, VersionedResources: map[string][]metav1.APIResource{}}
		for _, v := range g.Versions {
			if r, ok := byGV[v.GroupVersion]; ok {
				gr.VersionedResources[v.Version] = r.APIResources
			}
		}
		out = append(out, gr)
	}
	return discovered{groups: out, failed: failed}
}

var apiServices = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// diagnose names the APIServices that are not Available, the usual reason
// discovery fails or hangs, and says how to fix it. It asks for at most 5
// seconds: the API server itself may be what hangs.
func (m *mapper) diagnose(ctx context.Context) string {
	const fix = "fix its server or delete the APIService (kubectl get apiservices shows each one's availability)"
	if m.dyn == nil {
		return "is an aggregated API server down? " + fix
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := m.dyn.Resource(apiServices).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Sprintf("is an aggregated API server down? (listing the APIServices failed too: %v) %s", err, fix)
	}
	var down []string
	for _, item := range list.Items {
		conds, _, _ := unstructured.NestedSlice(item.Object, "status", "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Available" && cm["status"] != "True" {
				svc, _, _ := unstructured.NestedString(item.Object, "spec", "service", "namespace")
				name, _, _ := unstructured.NestedString(item.Object, "spec", "service", "name")
				where := ""
				if name != "" {
					where = fmt.Sprintf(", served by Service %s/%s", svc, name)
				}
				down = append(down, fmt.Sprintf("APIService %s is not Available (%v: %v%s)", item.GetName(), cm["reason"], cm["message"], where))
			}
		}
	}
	if len(down) == 0 {
		return "every APIService is Available, so the API server itself is slow or overloaded: retry later or ask the cluster's operators"
	}
	sort.Strings(down)
	return strings.Join(down, "; ") + ": " + fix
}
