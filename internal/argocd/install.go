package argocd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/internal/gotool"
)

var (
	crdGVR       = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	nsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmGVR        = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secretGVR    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	appProjGVR   = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
	fieldManager = metav1.ApplyOptions{FieldManager: "slipway-argocd", Force: true}
)

// installed checks that the cluster still holds what install applied.
func (i *Instance) installed(ctx context.Context) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", i.kubeconfig)
	if err != nil {
		return fmt.Errorf("argocd: %s: %w", i.kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := dyn.Resource(crdGVR).Get(ctx, "applications.argoproj.io", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("the cluster has no Application CRD (a new control plane?): %w", err)
	}
	if _, err := dyn.Resource(cmGVR).Namespace(Namespace).Get(ctx, "argocd-cm", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("the cluster has no argocd-cm (a new control plane?): %w", err)
	}
	return nil
}

// install applies what Argo CD's install manifests would, minus the
// Deployments: its CRDs (Application, AppProject), the namespace, its
// configuration ConfigMaps and Secret (from the module), and the default
// AppProject, which argocd-server would otherwise create.
func (i *Instance) install(ctx context.Context) error {
	src, err := gotool.ModuleDir(ctx, Tool.Module, Version)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", i.kubeconfig)
	if err != nil {
		return fmt.Errorf("argocd: %s: %w", i.kubeconfig, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	apply := func(gvr schema.GroupVersionResource, ns string, obj *unstructured.Unstructured) error {
		var ri dynamic.ResourceInterface = dyn.Resource(gvr)
		if ns != "" {
			obj.SetNamespace(ns)
			ri = dyn.Resource(gvr).Namespace(ns)
		}
		if _, err := ri.Apply(ctx, obj.GetName(), obj, fieldManager); err != nil {
			return fmt.Errorf("argocd: applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
		return nil
	}
	read := func(rel string) (*unstructured.Unstructured, error) {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return nil, fmt.Errorf("argocd: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("argocd: %s: %w", rel, err)
		}
		return &unstructured.Unstructured{Object: m}, nil
	}
	for _, f := range []string{"application-crd.yaml", "appproject-crd.yaml"} {
		crd, err := read(filepath.Join("manifests", "crds", f))
		if err != nil {
			return err
		}
		if err := apply(crdGVR, "", crd); err != nil {
			return err
		}
		if err := waitFor(ctx, 30*time.Second, func(ctx context.Context) error {
			got, err := dyn.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return fmt.Errorf("CRD %s is not established", crd.GetName())
		}); err != nil {
			return fmt.Errorf("argocd: %w", err)
		}
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": Namespace}}}
	if err := apply(nsGVR, "", ns); err != nil {
		return err
	}
	for _, f := range []string{"argocd-cm.yaml", "argocd-cmd-params-cm.yaml", "argocd-gpg-keys-cm.yaml", "argocd-rbac-cm.yaml", "argocd-ssh-known-hosts-cm.yaml", "argocd-tls-certs-cm.yaml"} {
		cm, err := read(filepath.Join("manifests", "base", "config", f))
		if err != nil {
			return err
		}
		if err := apply(cmGVR, Namespace, cm); err != nil {
			return err
		}
	}
	// argocd-secret: the upstream one is empty; a server key is generated
	// once and kept.
	if _, err := dyn.Resource(secretGVR).Namespace(Namespace).Get(ctx, "argocd-secret", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		sec, err := read(filepath.Join("manifests", "base", "config", "argocd-secret.yaml"))
		if err != nil {
			return err
		}
		key := make([]byte, 32)
		rand.Read(key)
		sec.Object["stringData"] = map[string]any{"server.secretkey": hex.EncodeToString(key)}
		if err := apply(secretGVR, Namespace, sec); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("argocd: reading argocd-secret: %w", err)
	}
	proj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
		"metadata": map[string]any{"name": "default"},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
	return apply(appProjGVR, Namespace, proj)
}
