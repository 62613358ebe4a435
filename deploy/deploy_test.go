package deploy

import (
	"context"
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	digestA = "registry.local/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	digestB = "registry.local/app@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestParseDigest(t *testing.T) {
	for _, tc := range []struct {
		in, wantErr string
	}{
		{in: digestA},
		{in: "registry.local/app:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
		{in: "registry.local/app:v1", wantErr: `image "registry.local/app:v1" is a tag, not a digest`},
		{in: "registry.local/app", wantErr: "pass it by digest (registry.local/app@sha256:<digest>"},
		{in: "registry.local/app@sha256:short", wantErr: "not a valid digest reference"},
		{in: "", wantErr: "no image given"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseDigest(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseDigest(%q): %v", tc.in, err)
				}
				if !strings.HasPrefix(d.DigestStr(), "sha256:") {
					t.Fatalf("digest %q", d.DigestStr())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseDigest(%q) = %v, want an error containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func obj(t *testing.T, y map[string]any) *unstructured.Unstructured {
	t.Helper()
	return &unstructured.Unstructured{Object: y}
}

func deployment(name string, containers ...map[string]any) map[string]any {
	cts := make([]any, len(containers))
	for i, c := range containers {
		cts[i] = c
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": name, "namespace": "elsewhere", "resourceVersion": "12", "uid": "x"},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     map[string]any{"containers": cts},
			},
		},
		"status": map[string]any{"replicas": int64(3)},
	}
}

func TestPrepare(t *testing.T) {
	c := &Client{env: Environment{Name: "staging", Namespace: "shop", Replicas: 4}}
	app := map[string]any{"name": "app", "image": "placeholder"}
	side := map[string]any{"name": "proxy", "image": "registry.local/proxy:latest"}
	sidePinned := map[string]any{"name": "proxy", "image": digestB}
	svc := map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "web"}}
	for _, tc := range []struct {
		name    string
		rel     Release
		wantErr string
	}{
		{name: "one container", rel: Release{Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app)), obj(t, svc)}}},
		{name: "named container beside a pinned sidecar", rel: Release{Container: "app", Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app, sidePinned))}}},
		{name: "sidecar by tag", rel: Release{Container: "app", Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app, side))}}, wantErr: `container proxy: image "registry.local/proxy:latest" is a tag`},
		{name: "two containers, none named", rel: Release{Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app, sidePinned))}}, wantErr: "name the one that gets the image in Release.Container"},
		{name: "two deployments", rel: Release{Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app)), obj(t, deployment("api", app))}}, wantErr: "name the one to roll out in Release.Deployment"},
		{name: "unknown deployment", rel: Release{Deployment: "nope", Bundle: []*unstructured.Unstructured{obj(t, deployment("web", app))}}, wantErr: `no Deployment "nope"`},
		{name: "no deployment", rel: Release{Bundle: []*unstructured.Unstructured{obj(t, svc)}}, wantErr: "no Deployment to roll out"},
		{name: "empty", rel: Release{}, wantErr: "the bundle is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, target, err := c.prepare(tc.rel, digestA)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("prepare: %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range objs {
				if o.GetNamespace() != "shop" || o.GetResourceVersion() != "" || o.GetUID() != "" {
					t.Errorf("%s: namespace %q resourceVersion %q uid %q, want shop and server fields cleared", o.GetName(), o.GetNamespace(), o.GetResourceVersion(), o.GetUID())
				}
				if _, found := o.Object["status"]; found {
					t.Errorf("%s: status kept", o.GetName())
				}
			}
			var dep appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(target.Object, &dep); err != nil {
				t.Fatal(err)
			}
			if got := dep.Spec.Template.Spec.Containers[0].Image; got != digestA {
				t.Errorf("image %q, want %q", got, digestA)
			}
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 4 {
				t.Errorf("replicas %v, want the environment's 4", dep.Spec.Replicas)
			}
			if tc.rel.Bundle[0].GetNamespace() != "elsewhere" {
				t.Error("prepare changed the caller's bundle")
			}
		})
	}
}

func dep(gen, observed int64, replicas, updated, ready, available, total int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: total, UpdatedReplicas: updated,
			ReadyReplicas: ready, AvailableReplicas: available, Conditions: conds},
	}
}

func TestRolloutStatus(t *testing.T) {
	timedOut := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}
	for _, tc := range []struct {
		name     string
		d        *appsv1.Deployment
		applied  int64
		wantDone bool
		wantMsg  string
		wantErr  error
	}{
		{"spec not observed", dep(2, 1, 3, 3, 3, 3, 3), 2, false, "spec update to be observed", nil},
		{"applied generation not yet seen", dep(1, 1, 3, 3, 3, 3, 3), 2, false, "spec update to be observed", nil},
		{"updating", dep(2, 2, 3, 1, 1, 1, 4, progressing), 2, false, "1 of 3 updated replicas", nil},
		{"old replicas left", dep(2, 2, 3, 3, 3, 3, 4, progressing), 2, false, "1 old replicas are pending termination", nil},
		{"not available", dep(2, 2, 3, 3, 2, 2, 3, progressing), 2, false, "2 of 3 updated replicas are available", nil},
		{"complete", dep(2, 2, 3, 3, 3, 3, 3, progressing), 2, true, "successfully rolled out", nil},
		{"deadline exceeded", dep(2, 2, 3, 1, 0, 0, 4, timedOut), 2, false, "", ErrProgressDeadline},
		{"deadline of an old generation is not judged", dep(3, 2, 3, 1, 0, 0, 4, timedOut), 3, false, "spec update to be observed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, done, err := RolloutStatus(tc.d, tc.applied)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if done != tc.wantDone || !strings.Contains(msg, tc.wantMsg) {
				t.Fatalf("(%q, %v), want (%q, %v)", msg, done, tc.wantMsg, tc.wantDone)
			}
		})
	}
}

func TestNotReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{"ready", corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}, ""},
		{"image pull", corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}}}}}, "container app: ImagePullBackOff: Back-off pulling image"},
		{"crashed", corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3}}}}}}, "container app: terminated Error (exit code 3)"},
		{"unschedulable", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/2 nodes are available"}}}}, "PodScheduled: Unschedulable 0/2 nodes are available"},
		{"nothing known", corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "phase Pending"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := notReady(&tc.pod); got != tc.want {
				t.Fatalf("notReady = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRollbackRetriesConflicts injects what the real cluster rarely shows
// on demand: an update conflict while rolling back (someone else wrote the
// Deployment). The rollback must re-read and succeed.
func TestRollbackRetriesConflicts(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 3},
		Spec:       appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: digestB}}}}},
	}
	prev := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Annotations: map[string]string{revisionAnnotation: "1"}},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: "abc"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: digestA}}},
		}},
	}
	kube := fake.NewClientset(d)
	conflicts := 2
	kube.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	c, err := New(context.Background(), Environment{Name: "staging", Namespace: "shop"}, WithClients(kube, dynamicfake.NewSimpleDynamicClient(runtime.NewScheme())))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.rollbackTo(context.Background(), "web", prev); err != nil {
		t.Fatalf("rollbackTo: %v", err)
	}
	if conflicts != 0 {
		t.Fatalf("%d injected conflicts left: the update was not retried", conflicts)
	}
	got, err := kube.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := got.Spec.Template.Spec.Containers[0].Image; img != digestA {
		t.Errorf("image after rollback %q, want the previous revision's %q", img, digestA)
	}
	if _, ok := got.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Error("the ReplicaSet's pod-template-hash label was copied into the Deployment template")
	}
}

func TestNewRequiresKubeconfig(t *testing.T) {
	ctx := context.Background()
	t.Setenv("SLIPWAY_TEST_EMPTY_KUBECONFIG", "")
	for _, tc := range []struct {
		name    string
		env     Environment
		wantErr string
	}{
		{"no namespace", Environment{Name: "staging", Kubeconfig: KubeconfigBytes("x")}, "no namespace"},
		{"no kubeconfig", Environment{Name: "staging", Namespace: "shop"}, "no kubeconfig: set Environment.Kubeconfig"},
		{"missing secret variable", Environment{Name: "staging", Namespace: "shop", Kubeconfig: KubeconfigEnv("SLIPWAY_TEST_EMPTY_KUBECONFIG")}, "the kubeconfig variable SLIPWAY_TEST_EMPTY_KUBECONFIG is not set"},
		{"empty secret", Environment{Name: "staging", Namespace: "shop", Kubeconfig: KubeconfigBytes(nil)}, "the kubeconfig is empty"},
		{"missing file", Environment{Name: "staging", Namespace: "shop", Kubeconfig: KubeconfigFile("/nonexistent/kubeconfig")}, "reading kubeconfig: open /nonexistent/kubeconfig"},
		{"garbage", Environment{Name: "staging", Namespace: "shop", Kubeconfig: KubeconfigBytes("{not yaml")}, "kubeconfig is not usable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(ctx, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `environment "staging"`) {
				t.Fatalf("New: %v, want an error naming the environment and containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestObjects(t *testing.T) {
	typed := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	raw := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": map[string]any{"name": "r"}}}
	got, err := Objects(typed, svc, raw)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"apps/v1, Kind=Deployment web", "/v1, Kind=Service web", "monitoring.coreos.com/v1, Kind=PrometheusRule r"}
	for i, o := range got {
		if s := o.GroupVersionKind().String() + " " + o.GetName(); s != want[i] {
			t.Errorf("object %d: %s, want %s", i, s, want[i])
		}
	}
	if got[2] == raw {
		t.Error("an unstructured input was not copied")
	}
}
