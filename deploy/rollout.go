package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

// ErrProgressDeadline is the cause of a rollout that Kubernetes gave up on:
// the Deployment's Progressing condition says ProgressDeadlineExceeded.
var ErrProgressDeadline = errors.New("progress deadline exceeded")

// RolloutStatus judges a Deployment exactly as `kubectl rollout status`
// does: done once the controller has observed the generation that was
// applied and every replica is updated and available with no old replica
// left; an error once the Progressing condition has timed out.
func RolloutStatus(d *appsv1.Deployment, generation int64) (msg string, done bool, err error) {
	if d.Generation > d.Status.ObservedGeneration || d.Status.ObservedGeneration < generation {
		return "waiting for the deployment spec update to be observed", false, nil
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("%w: %s", ErrProgressDeadline, c.Message)
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	switch {
	case s.UpdatedReplicas < want:
		return fmt.Sprintf("%d of %d updated replicas are available", s.UpdatedReplicas, want), false, nil
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas are pending termination", s.Replicas-s.UpdatedReplicas), false, nil
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas are available", s.AvailableReplicas, s.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("successfully rolled out (%d replicas)", s.UpdatedReplicas), true, nil
}

// waitRollout watches the Deployment until RolloutStatus says done or
// failed. It lists once, then watches from that resourceVersion with a
// RetryWatcher, which re-opens a dropped watch within a second (an
// informer's reflector backs off up to 30 s); when the API server has
// forgotten the resourceVersion (410 Gone), it lists again.
func (c *Client) waitRollout(ctx context.Context, name string, generation int64, timeout time.Duration) (*appsv1.Deployment, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	deps := c.kube.AppsV1().Deployments(c.env.Namespace)
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return deps.Watch(ctx, o)
		},
	}
	last := "no status seen yet"
	var final *appsv1.Deployment
	cond := func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("the Deployment was deleted during the rollout")
		case watch.Error, watch.Bookmark:
			return false, nil
		}
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return false, nil
		}
		msg, done, err := RolloutStatus(d, generation)
		if err != nil {
			return false, err
		}
		last, final = msg, d
		return done, nil
	}
	timedOut := func() error {
		return fmt.Errorf("rollout did not complete within %s (last status: %s)", timeout, last)
	}
	for {
		var list *appsv1.DeploymentList
		err := retryUntilDone(ctx, func(ctx context.Context) error {
			var err error
			list, err = deps.List(ctx, metav1.ListOptions{FieldSelector: sel})
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w; the API server did not answer: %v", timedOut(), c.explain(err))
			}
			return nil, c.explain(err)
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("the Deployment was deleted during the rollout")
		}
		if done, err := cond(watch.Event{Type: watch.Modified, Object: &list.Items[0]}); err != nil || done {
			return final, err
		}
		rw, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, lw)
		if err != nil {
			return nil, err
		}
		_, err = watchtools.UntilWithoutRetry(ctx, rw, cond)
		rw.Stop()
		switch {
		case err == nil:
			return final, nil
		case errors.Is(err, watchtools.ErrWatchClosed):
			continue // the resourceVersion expired: list again
		case ctx.Err() != nil:
			return nil, timedOut()
		}
		return nil, err
	}
}

// retryUntilDone runs fn until it succeeds, fails for good, or ctx ends;
// backoff grows from 100 ms to 1 s, so a returning API server is noticed
// within a second.
func retryUntilDone(ctx context.Context, fn func(context.Context) error) error {
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 1 << 30, Cap: time.Second}
	for {
		err := fn(ctx)
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff.Step()):
		}
	}
}

// PodFailure is one pod of a failed rollout and why it is not ready.
type PodFailure struct {
	Pod    string
	Reason string
}

// RolloutError is a failed rollout: why, which pods, and what the rollback
// did.
type RolloutError struct {
	Cause error
	Image string // the image that failed
	Pods  []PodFailure
	// RolledBack is set once the previous revision is healthy again.
	RolledBack bool
	// Removed names the objects ("Deployment web", "Service web") a failed
	// first deploy created and removed again, as helm install --atomic
	// does: with no previous revision there is nothing to roll back to.
	// Objects that existed before the deploy are never removed; Kept names
	// those of the bundle. RolledBack and a complete removal (Removed set,
	// RollbackErr nil) exclude each other.
	Removed []string
	// Kept names the bundle's objects that a failed first deploy left in
	// place because they existed before it.
	Kept []string
	// PreviousImage is the image of the revision rolled back to.
	PreviousImage string
	// RollbackErr says why there was no healthy rollback, or why a first
	// deploy's objects could not all be removed.
	RollbackErr error
}

// Error names the cause, the failing pods and the state after rollback.
func (e *RolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rollout of %s failed: %v", e.Image, e.Cause)
	if len(e.Pods) > 0 {
		b.WriteString("; failing pods:")
		for _, p := range e.Pods {
			fmt.Fprintf(&b, " %s (%s);", p.Pod, p.Reason)
		}
	} else if errors.Is(e.Cause, ErrVerification) {
		// Its pods are ready: what failed is what they answered.
		b.WriteString(";")
	} else {
		b.WriteString("; no failing pods found")
	}
	switch {
	case e.RolledBack:
		fmt.Fprintf(&b, " rolled back to the previous revision (%s), which is healthy", e.PreviousImage)
	case e.RollbackErr != nil:
		fmt.Fprintf(&b, " NOT rolled back: %v", e.RollbackErr)
		if len(e.Removed) > 0 {
			fmt.Fprintf(&b, "; removed what this deploy created: %s", strings.Join(e.Removed, ", "))
		}
	case len(e.Removed) > 0:
		fmt.Fprintf(&b, " nothing to roll back to (no previous revision): removed what this first deploy created: %s", strings.Join(e.Removed, ", "))
	default:
		b.WriteString(" left as it is (rollback disabled)")
	}
	if len(e.Kept) > 0 && (e.RolledBack || len(e.Removed) > 0 || e.RollbackErr != nil) {
		fmt.Fprintf(&b, "; kept %s: they existed before this deploy", strings.Join(e.Kept, ", "))
	}
	return b.String()
}

// Unwrap exposes the cause and the rollback error to errors.Is/As.
func (e *RolloutError) Unwrap() []error {
	return []error{e.Cause, e.RollbackErr}
}

// fail collects the failing pods of the new revision, then rolls back.
// A first deploy has no previous revision: then what it created is removed
// again (created), and what existed before it is left (kept).
func (c *Client) fail(ctx context.Context, name, image string, cause error, created, kept []createdObject) error {
	// The rollback must run even when the caller's context is what ran
	// out: a half-rolled-out production is worse than a late error.
	ctx = context.WithoutCancel(ctx)
	rerr := &RolloutError{Cause: cause, Image: image}
	dep, rss, err := c.revisions(ctx, name)
	if err != nil {
		rerr.RollbackErr = c.explain(err)
		return rerr
	}
	if cur := currentRS(dep, rss); cur != nil {
		rerr.Pods = c.failingPods(ctx, cur)
	}
	if !c.opts.rollback {
		return rerr
	}
	prev := previousRS(dep, rss)
	if prev == nil {
		return c.removeFirst(ctx, rerr, created, kept)
	}
	rerr.PreviousImage = imagesOf(prev.Spec.Template.Spec)
	gen, err := c.rollbackTo(ctx, name, prev)
	if err != nil {
		rerr.RollbackErr = fmt.Errorf("rolling back to revision %s: %w", prev.Annotations[revisionAnnotation], c.explain(err))
		return rerr
	}
	if _, err := c.waitRollout(ctx, name, gen, c.opts.rollbackTimeout); err != nil {
		rerr.RollbackErr = fmt.Errorf("rolled back to revision %s, but it did not become healthy: %w", prev.Annotations[revisionAnnotation], err)
		return rerr
	}
	rerr.RolledBack = true
	return rerr
}

// removeFirst undoes a failed first deploy: it removes what the deploy
// created and says so; a Deployment that existed before (with no older
// revision: left by a deploy without rollback) stays as it is.
func (c *Client) removeFirst(ctx context.Context, rerr *RolloutError, created, kept []createdObject) error {
	targetCreated := false
	for _, o := range created {
		targetCreated = targetCreated || o.target
	}
	for _, o := range kept {
		rerr.Kept = append(rerr.Kept, o.String())
	}
	removed, err := c.remove(ctx, created)
	rerr.Removed = removed
	switch {
	case !targetCreated:
		rerr.RollbackErr = errors.New("there is no previous revision to roll back to, and the Deployment existed before this deploy (left by a failed deploy without rollback?), so it is left as it is")
		if err != nil {
			rerr.RollbackErr = fmt.Errorf("%w; removing what this deploy created: %w", rerr.RollbackErr, err)
		}
	case err != nil:
		rerr.RollbackErr = fmt.Errorf("there is no previous revision to roll back to (this was the first deploy), and removing what it created failed: %w", err)
	}
	return rerr
}

// revisions reads the Deployment and the ReplicaSets it controls.
func (c *Client) revisions(ctx context.Context, name string) (*appsv1.Deployment, []appsv1.ReplicaSet, error) {
	var dep *appsv1.Deployment
	var list *appsv1.ReplicaSetList
	err := c.retryTransient(ctx, func(ctx context.Context) error {
		var err error
		if dep, err = c.kube.AppsV1().Deployments(c.env.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return err
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			return err
		}
		list, err = c.kube.AppsV1().ReplicaSets(c.env.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	var owned []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == dep.UID {
			owned = append(owned, rs)
		}
	}
	return dep, owned, nil
}

func revisionOf(o metav1.Object) int64 {
	n, _ := strconv.ParseInt(o.GetAnnotations()[revisionAnnotation], 10, 64)
	return n
}

// currentRS is the ReplicaSet of the Deployment's current revision.
func currentRS(dep *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	want := revisionOf(dep)
	for i := range rss {
		if revisionOf(&rss[i]) == want {
			return &rss[i]
		}
	}
	return nil
}

// previousRS is the newest revision older than the current one, the one
// `kubectl rollout undo` picks.
func previousRS(dep *appsv1.Deployment, rss []appsv1.ReplicaSet) *appsv1.ReplicaSet {
	cur := revisionOf(dep)
	var best *appsv1.ReplicaSet
	for i := range rss {
		r := revisionOf(&rss[i])
		if r < cur && (best == nil || r > revisionOf(best)) {
			best = &rss[i]
		}
	}
	return best
}

// rollbackTo puts the previous ReplicaSet's pod template back into the
// Deployment, as `kubectl rollout undo` does, and returns the generation
// to wait for. Read-modify-write, so conflicts are retried.
func (c *Client) rollbackTo(ctx context.Context, name string, prev *appsv1.ReplicaSet) (int64, error) {
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		return c.retryTransient(ctx, func(ctx context.Context) error {
			deps := c.kube.AppsV1().Deployments(c.env.Namespace)
			dep, err := deps.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			tmpl := prev.Spec.Template.DeepCopy()
			delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
			dep.Spec.Template = *tmpl
			out, err := deps.Update(ctx, dep, metav1.UpdateOptions{FieldManager: FieldManager})
			if err != nil {
				return err
			}
			gen = out.Generation
			return nil
		})
	})
	return gen, err
}

// failingPods names the pods of rs that are not ready, and why.
func (c *Client) failingPods(ctx context.Context, rs *appsv1.ReplicaSet) []PodFailure {
	sel := labels.SelectorFromSet(labels.Set{appsv1.DefaultDeploymentUniqueLabelKey: rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]})
	pods, err := c.kube.CoreV1().Pods(c.env.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return []PodFailure{{Pod: "(pods of ReplicaSet " + rs.Name + ")", Reason: "cannot list: " + err.Error()}}
	}
	var out []PodFailure
	for _, p := range pods.Items {
		if r := notReady(&p); r != "" {
			out = append(out, PodFailure{Pod: p.Name, Reason: r})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// notReady says why a pod is not ready, or "" when it is.
func notReady(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return ""
		}
	}
	var reasons []string
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reasons = append(reasons, fmt.Sprintf("container %s: %s: %s", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil:
			reasons = append(reasons, fmt.Sprintf("container %s: terminated %s (exit code %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		case !cs.Ready:
			reasons = append(reasons, fmt.Sprintf("container %s: not ready", cs.Name))
		}
	}
	if len(reasons) == 0 {
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Reason != "" {
				reasons = append(reasons, fmt.Sprintf("%s: %s %s", c.Type, c.Reason, c.Message))
			}
		}
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "phase "+string(p.Status.Phase))
	}
	return strings.Join(reasons, "; ")
}

func imagesOf(spec corev1.PodSpec) string {
	var imgs []string
	for _, c := range spec.Containers {
		imgs = append(imgs, c.Image)
	}
	return strings.Join(imgs, ", ")
}
