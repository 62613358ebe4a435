package gitops

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// ApplicationGVR is Argo CD's Application resource.
var ApplicationGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// AppStatus is what slipway reads of an Argo CD Application.
type AppStatus struct {
	RepoURL, TargetRevision, Path string
	// Sync is Synced, OutOfSync or Unknown; Revision the commit it
	// compared.
	Sync, Revision string
	// Health is Healthy, Progressing, Degraded, Suspended, Missing or
	// Unknown, with its message.
	Health, HealthMessage string
	// Operation is the last sync operation's phase (Running, Succeeded,
	// Failed, Error), the revision it synced and its message.
	Operation, OperationRevision, OperationMessage string
	// Resources are the objects the Application manages. Their Health is
	// only known where Argo CD persists it (--persist-resource-health).
	Resources []Resource
	// Conditions are the Application's error conditions
	// (ComparisonError, ...).
	Conditions []string
}

// Resource is one object an Application manages.
type Resource struct {
	Kind, Namespace, Name, Health, Message string
}

func (r Resource) String() string {
	s := fmt.Sprintf("%s %s/%s %s", r.Kind, r.Namespace, r.Name, r.Health)
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

// ReadStatus decodes an Application object.
func ReadStatus(app *unstructured.Unstructured) AppStatus {
	str := func(path ...string) string {
		v, _, _ := unstructured.NestedString(app.Object, path...)
		return v
	}
	s := AppStatus{
		RepoURL:           str("spec", "source", "repoURL"),
		TargetRevision:    str("spec", "source", "targetRevision"),
		Path:              str("spec", "source", "path"),
		Sync:              str("status", "sync", "status"),
		Revision:          str("status", "sync", "revision"),
		Health:            str("status", "health", "status"),
		HealthMessage:     str("status", "health", "message"),
		Operation:         str("status", "operationState", "phase"),
		OperationRevision: str("status", "operationState", "syncResult", "revision"),
		OperationMessage:  str("status", "operationState", "message"),
	}
	res, _, _ := unstructured.NestedSlice(app.Object, "status", "resources")
	for _, r := range res {
		m, _ := r.(map[string]any)
		h, _ := m["health"].(map[string]any)
		hs, _ := h["status"].(string)
		msg, _ := h["message"].(string)
		kind, _ := m["kind"].(string)
		ns, _ := m["namespace"].(string)
		n, _ := m["name"].(string)
		s.Resources = append(s.Resources, Resource{Kind: kind, Namespace: ns, Name: n, Health: hs, Message: msg})
	}
	conds, _, _ := unstructured.NestedSlice(app.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		msg, _ := m["message"].(string)
		if strings.HasSuffix(t, "Error") {
			s.Conditions = append(s.Conditions, t+": "+msg)
		}
	}
	return s
}

func (s AppStatus) String() string {
	out := fmt.Sprintf("sync %s at %s, health %s", orUnknown(s.Sync), short(s.Revision), orUnknown(s.Health))
	if s.HealthMessage != "" {
		out += " (" + s.HealthMessage + ")"
	}
	if s.Operation != "" {
		out += fmt.Sprintf(", last sync %s at %s", s.Operation, short(s.OperationRevision))
		if s.OperationMessage != "" && s.Operation != "Succeeded" {
			out += ": " + s.OperationMessage
		}
	}
	for _, r := range s.Resources {
		if r.Health != "" && r.Health != "Healthy" {
			out += "; " + r.String()
		}
	}
	for _, c := range s.Conditions {
		out += "; " + c
	}
	return out
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	if rev == "" {
		return "no revision"
	}
	return rev
}

// apps is the dynamic client of Applications in Argo CD's namespace.
func (p *Promoter) apps() dynamic.ResourceInterface {
	_, dyn := p.client.Clients()
	return dyn.Resource(ApplicationGVR).Namespace(p.app.namespace())
}

// checkApplication reads the Application before any commit: it must exist
// and watch this repository and branch, or the promotion would change a
// repository nobody deploys from.
func (p *Promoter) checkApplication(ctx context.Context) (AppStatus, error) {
	obj, err := p.apps().Get(ctx, p.app.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return AppStatus{}, fmt.Errorf("the Argo CD Application %s does not exist: create it (examples/deployai/deploy/gitops has one) or fix gitops.Application", p.app)
	case err != nil:
		return AppStatus{}, fmt.Errorf("reading the Argo CD Application %s: %w", p.app, p.client.Explain(err))
	}
	st := ReadStatus(obj)
	if normalizeURL(st.RepoURL) != normalizeURL(p.repo.URL) {
		return st, fmt.Errorf("the Argo CD Application %s deploys %s, not %s: promote into the repository it watches", p.app, st.RepoURL, p.repo.URL)
	}
	if tr := st.TargetRevision; tr != "" && tr != "HEAD" && tr != p.repo.branch() && tr != "refs/heads/"+p.repo.branch() {
		return st, fmt.Errorf("the Argo CD Application %s tracks %q, not the branch %q: set Repository.Branch to it", p.app, tr, p.repo.branch())
	}
	return st, nil
}

func normalizeURL(u string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(u), "/"), ".git")
}

// refresh asks Argo CD to compare with git now, as its webhook does,
// instead of at its next poll (3 minutes by default).
func (p *Promoter) refresh(ctx context.Context) error {
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`)
	_, err := p.apps().Patch(ctx, p.app.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("asking Argo CD to refresh %s: %w", p.app, p.client.Explain(err))
	}
	return nil
}

// errDegraded is the cause when the Application degrades at the revision.
var errDegraded = errors.New("the Application degraded")

// waitFor watches the Application until it is Synced and Healthy at rev
// (or at a later revision whose history holds rev), or fails: Degraded, or
// a failed sync, at such a revision. The last status seen is returned
// either way.
func (p *Promoter) waitFor(ctx context.Context, rev string) (AppStatus, error) {
	sel := fields.OneTermEqualSelector("metadata.name", p.app.Name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return p.apps().List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return p.apps().Watch(ctx, o)
		},
	}
	// A refresh request is an annotation Argo CD removes once it has
	// compared: a request made while another promotion's was pending
	// changes nothing and can be lost. It is repeated, as a webhook
	// delivery is retried, until the Application has seen rev.
	seen := make(chan struct{})
	go func() {
		for delay := time.Second; ; delay = min(2*delay, 10*time.Second) {
			select {
			case <-seen:
				return
			case <-ctx.Done():
				return
			case <-time.After(delay):
				p.refresh(ctx) // best effort: the watch decides
			}
		}
	}()
	var once sync.Once
	var last AppStatus
	known := map[string]bool{rev: true} // revisions known to hold rev, or not
	atRev := func(r string) bool {
		if r == "" {
			return false
		}
		if v, ok := known[r]; ok {
			return v
		}
		ok, err := p.contains(ctx, r, rev)
		if err != nil {
			return false // ask again on the next event
		}
		known[r] = ok
		return ok
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("the Argo CD Application %s was deleted", p.app)
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		last = ReadStatus(u)
		if !atRev(last.Revision) {
			return false, nil
		}
		once.Do(func() { close(seen) })
		if last.Operation == "Failed" || last.Operation == "Error" {
			if atRev(last.OperationRevision) {
				return false, fmt.Errorf("the sync failed: %s", last.OperationMessage)
			}
		}
		synced := last.Sync == "Synced" && last.Operation != "Running"
		switch {
		case synced && last.Health == "Degraded":
			// Degraded counts once this revision is applied: until
			// then the health is still the previous revision's.
			return false, errDegraded
		case synced && last.Health == "Healthy":
			return true, nil
		}
		return false, nil
	})
	once.Do(func() { close(seen) })
	if err != nil && ctx.Err() != nil {
		return last, fmt.Errorf("the Argo CD Application %s was not Synced and Healthy at %s in time (last status: %s)", p.app, short(rev), last)
	}
	return last, err
}
