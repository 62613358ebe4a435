package helm

import (
	"bytes"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/postrender"
	"helm.sh/helm/v3/pkg/releaseutil"

	"github.com/slipway-ci/slipway/deploy"
)

// placement is a Helm post-renderer that puts every workload the chart
// renders onto the environment's nodes (deploy.Environment.NodeSelector),
// as the apply source does, whatever the chart's values offer for it: the
// environment decides where its pods run, not each chart.
type placement map[string]string

var _ postrender.PostRenderer = placement(nil)

// Run sets the node selector on each rendered workload.
func (p placement) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	var out bytes.Buffer
	for _, doc := range releaseutil.SplitManifests(in.String()) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return nil, fmt.Errorf("placing the chart's pods: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: m}
		if err := deploy.PlacePods(obj, p); err != nil {
			return nil, fmt.Errorf("placing the chart's pods: %w", err)
		}
		b, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("placing the chart's pods: %w", err)
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	return &out, nil
}

// postRenderer is the placement for sel, or nil (Helm's own output) when
// the environment names no nodes.
func postRenderer(sel map[string]string) postrender.PostRenderer {
	if len(sel) == 0 {
		return nil
	}
	return placement(sel)
}
