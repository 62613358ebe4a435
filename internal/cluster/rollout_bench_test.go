package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/slipway-ci/slipway/internal/clustertest"
)

// BenchmarkRolloutToReady measures a 3-replica Deployment of the test app
// (HTTP readiness probe) from create to 3 Ready replicas, on the real node
// and on kwok's nodes. The image is pulled once before timing: a deploy's
// image is in the node's cache after the first rollout.
//
//	go test -run '^$' -bench RolloutToReady -benchtime 5x ./internal/cluster
func BenchmarkRolloutToReady(b *testing.B) {
	c := clustertest.RequireNode(b)
	image := clustertest.PushApp(b, clustertest.AppServe)
	ns := c.Namespace(b, "rollout")
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		place func(*corev1.PodSpec)
	}{{"real", clustertest.RealNode}, {"kwok", clustertest.Kwok}} {
		b.Run(tc.name, func(b *testing.B) {
			run := func(i int) time.Duration {
				name := fmt.Sprintf("%s-%d", tc.name, i)
				pod := appPod(name, image, tc.place).Spec
				three := int32(3)
				d := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec: appsv1.DeploymentSpec{
						Replicas: &three,
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}, Spec: pod},
					},
				}
				start := time.Now()
				if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
					b.Fatal(err)
				}
				err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
					got, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
					return err == nil && got.Status.ReadyReplicas == 3 && got.Status.UpdatedReplicas == 3, nil
				})
				took := time.Since(start)
				if err != nil {
					b.Fatalf("%s: 3 replicas not Ready after %s", name, took)
				}
				if err := c.Client.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
					b.Fatal(err)
				}
				return took
			}
			b.Logf("untimed first rollout (pulls the image if the node lacks it): %s", run(-1).Round(time.Millisecond))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(i)
			}
		})
	}
}
