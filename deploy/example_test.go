package deploy_test

import (
	"context"
	"fmt"
	"log"
	"os"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/pipeline"
)

// The promotion path of a CI pipeline: staging deploys and records the
// evidence next to the image; production checks it, and the approval,
// before it touches the cluster.
func Example() {
	ctx := context.Background()
	image := os.Getenv("IMAGE_REF") // registry/app@sha256:..., the build job's output
	var web *appsv1.Deployment      // the service's typed manifests
	bundle, err := deploy.Objects(web)
	if err != nil {
		log.Fatal(err)
	}
	evidence := deploy.NewReferrers() // OCI referrers in the image's registry
	gate := &deploy.PromotionGate{Store: evidence, Staging: "staging"}

	staging := deploy.Environment{Name: "staging", Tier: pipeline.Staging, Namespace: "telecom-staging",
		Kubeconfig: deploy.KubeconfigEnv("STAGING_KUBECONFIG"), URL: "https://staging.mts-deploy-ai.local"}
	production := deploy.Environment{Name: "production", Tier: pipeline.Production, Namespace: "telecom",
		Kubeconfig: deploy.KubeconfigEnv("PRODUCTION_KUBECONFIG"), URL: "https://mts-deploy-ai.mts.ru", Replicas: 3}

	for _, env := range []deploy.Environment{staging, production} {
		c, err := deploy.New(ctx, env)
		if err != nil {
			log.Fatal(err)
		}
		d := deploy.Gated(deploy.Recording(c, env, evidence), env, gate)
		res, err := d.Deploy(ctx, deploy.Release{Bundle: bundle, Image: image,
			Approval: &deploy.Approval{By: os.Getenv("GITLAB_USER_LOGIN")}})
		if err != nil {
			log.Fatal(err) // a *RolloutError was already rolled back; a *GateError names the missing evidence
		}
		fmt.Println(res.Environment, res.Revision, res.Duration)
	}
}
