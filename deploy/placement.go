package deploy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
)

// podSpecPaths are where the workload kinds keep their pod spec: the
// environment's node selector goes into every one, so that a sidecar
// Deployment or a migration Job lands where the service does.
var podSpecPaths = map[string][]string{
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
	"Pod":         {"spec"},
}

// ParseNodeSelector reads KEY=VALUE pairs (the deploy tool's
// --node-selector, the module's nodeSelector setting) into a node
// selector, checking each key and value as the API server would, so that
// a typo fails before the deploy rather than leaving pods Pending.
func ParseNodeSelector(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	sel := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("node selector %q: want KEY=VALUE, such as slipway.dev/node=real", p)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, fmt.Errorf("node selector %q: key %q: %s", p, k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, fmt.Errorf("node selector %q: value %q: %s", p, v, strings.Join(errs, "; "))
		}
		if old, dup := sel[k]; dup && old != v {
			return nil, fmt.Errorf("node selector: key %q given twice (%q and %q)", k, old, v)
		}
		sel[k] = v
	}
	return sel, nil
}

// FormatNodeSelector is the KEY=VALUE list ParseNodeSelector reads, sorted.
func FormatNodeSelector(sel map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		out = append(out, k+"="+sel[k])
	}
	return out
}

// PlacePods adds sel to the nodeSelector of obj's pod spec, when obj is a
// workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob,
// Pod); other objects are left as they are. A key the object already
// selects on gets the environment's value: the environment decides where
// its pods run, as Environment.Replicas decides how many.
func PlacePods(obj *unstructured.Unstructured, sel map[string]string) error {
	if len(sel) == 0 {
		return nil
	}
	path, ok := podSpecPaths[obj.GetKind()]
	if !ok {
		return nil
	}
	field := append(slices.Clone(path), "nodeSelector")
	cur, _, err := unstructured.NestedStringMap(obj.Object, field...)
	if err != nil {
		return fmt.Errorf("%s %s: %s: %w", obj.GetKind(), obj.GetName(), strings.Join(field, "."), err)
	}
	if cur == nil {
		cur = map[string]string{}
	}
	maps.Copy(cur, sel)
	if err := unstructured.SetNestedStringMap(obj.Object, cur, field...); err != nil {
		return fmt.Errorf("%s %s: setting %s: %w", obj.GetKind(), obj.GetName(), strings.Join(field, "."), err)
	}
	return nil
}
