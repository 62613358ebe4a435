package engine

import (
	"testing"

	"github.com/slipway-ci/slipway/stage/kube"
)

// The deploy stage pulls its default Prometheus by name; the mirror must
// serve that exact name, or every alert check of an air-gapped engine
// fails at the pull.
func TestMirrorServesTheDeployStagesPrometheus(t *testing.T) {
	if PrometheusRef != kube.DefaultPrometheusImage {
		t.Errorf("the mirror serves %s, the deploy stage pulls %s", PrometheusRef, kube.DefaultPrometheusImage)
	}
}
