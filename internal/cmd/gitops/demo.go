package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/slipway-ci/slipway/internal/argocd"
	"github.com/slipway-ci/slipway/internal/enginegit"
)

// The demo's GitOps repository: the example's layout
// (examples/deployai/deploy/gitops), which names the seed's repository.
const (
	demoRepo   = "mts-deploy-ai-gitops"
	demoLayout = "examples/deployai/deploy/gitops"
	seedURL    = "https://gitlab.mts.ru/telecom/mts-deploy-ai-gitops.git"
	// demoSecret is Argo CD's repository secret for it.
	demoSecret = "slipway-demo-gitops"
)

// optionalKinds are the kinds of the layout a cluster may not serve (the
// Prometheus Operator's); the demo's repository drops those it does not.
var optionalKinds = []string{"monitoring.coreos.com/v1/PrometheusRule"}

// demo prepares `make demo DEPLOY=gitops`: the example's GitOps layout as
// a repository of the git server (created once; later runs keep its
// history), Argo CD's repository secret (the credentials, and the proxy
// through which Argo CD reaches the URL the engine's containers push to),
// the AppProject and the Applications of the layout. It writes envFile
// with GIT_PASSWORD for the demo's deploy jobs.
func demo(ctx context.Context, git *enginegit.Daemon, kubeconfig, envFile string) error {
	if err := gitUp(git); err != nil {
		return err
	}
	info, err := git.Info()
	if err != nil {
		return err
	}
	kc, err := os.ReadFile(kubeconfig)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	url := info.URL(demoRepo)
	unserved, err := enginegit.UnservedKinds(cs.Discovery(), optionalKinds)
	if err != nil {
		return err
	}
	files, err := enginegit.LocalLayout(demoLayout, seedURL, url, unserved...)
	if err != nil {
		return err
	}
	srv := &enginegit.Server{Root: info.Root}
	if _, err := os.Stat(filepath.Join(info.Root, demoRepo+".git")); err != nil {
		head, err := srv.Create(demoRepo, "main", files)
		if err != nil {
			return err
		}
		note := ""
		if len(unserved) > 0 {
			note = fmt.Sprintf("; the overlays drop %s, which the cluster does not serve", strings.Join(unserved, ", "))
		}
		fmt.Fprintf(os.Stderr, "gitops: created %s at %s from %s%s\n", url, head[:12], demoLayout, note)
	} else {
		// The repository outlives slipway's upgrades: a layout changed
		// since it was made (such as the local CPU request that lets
		// both environments fit the real node) is committed on top,
		// keeping the digests the deploys promoted.
		current := map[string]string{}
		for name := range files {
			if out, err := srv.Git(demoRepo, "show", "main:"+name); err == nil {
				current[name] = out
			}
		}
		head, changed, err := srv.Update(demoRepo, "main", "layout updated from "+demoLayout+" (the promoted digests kept)", enginegit.KeepImages(files, current))
		if err != nil {
			return fmt.Errorf("updating %s from %s: %w", url, demoLayout, err)
		}
		if changed {
			fmt.Fprintf(os.Stderr, "gitops: updated %s to %s: the layout in %s changed since the repository was made\n", url, head[:12], demoLayout)
		}
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: demoSecret, Namespace: argocd.Namespace, Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": url, "username": info.User, "password": info.Password, "proxy": info.Proxy},
	}
	secrets := cs.CoreV1().Secrets(argocd.Namespace)
	if _, err := secrets.Create(ctx, secret, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		_, err = secrets.Update(ctx, secret, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("updating Argo CD's repository secret: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("creating Argo CD's repository secret: %w", err)
	}
	// The Argo CD objects as the repository holds them (its URL).
	for _, f := range []string{"argocd/project.yaml", "argocd/staging.yaml", "argocd/production.yaml"} {
		raw, err := srv.Git(demoRepo, "show", "main:"+f)
		if err != nil {
			return err
		}
		if err := apply(ctx, dyn, []byte(raw)); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(envFile), 0o755); err != nil {
		return err
	}
	env := fmt.Sprintf("# Written by `go run ./internal/cmd/gitops demo`: the demo's GitOps repository.\nGIT_PASSWORD=%s\nGITOPS_REPOSITORY=%s\n", info.Password, url)
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gitops: Argo CD's Applications %s/mts-deploy-ai-staging and mts-deploy-ai watch %s\n", argocd.Namespace, url)
	return nil
}

// apply server-side applies one object of the layout.
func apply(ctx context.Context, dyn dynamic.Interface, raw []byte) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		return err
	}
	gvk := obj.GroupVersionKind()
	res := map[string]string{"Application": "applications", "AppProject": "appprojects"}[gvk.Kind]
	if res == "" {
		return fmt.Errorf("unexpected kind %s", gvk.Kind)
	}
	gvr := schema.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: res}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = dyn.Resource(gvr).Namespace(obj.GetNamespace()).Patch(ctx, obj.GetName(), types.ApplyPatchType, data,
		metav1.PatchOptions{FieldManager: "slipway-demo", Force: ptr(true)})
	return err
}

func ptr[T any](v T) *T { return &v }
