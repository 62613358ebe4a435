package main

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/kube"
)

// DeployStaging deploys the image by digest to the staging namespace: the
// staging manifests (a directory of YAML or a kustomize overlay) with the
// image set in the service's container, applied server-side; it waits for
// the rollout as kubectl judges it and rolls back on failure. After a
// verified rollout it records "deployed and verified in staging" for the
// digest next to the image, signed with --signing-key, which production's
// gate asks for (unsigned, it says so, and production refuses it). Returns one
// line: namespace, digest, revision and duration. Never cached: the same
// arguments deploy again.
//
// +cache="never"
func (m *Slipway) DeployStaging(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The staging cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// The namespace to deploy into; it must exist. Default: the
	// stagingNamespace setting, else NAME-staging.
	// +optional
	namespace string,
	// The user for the image registry, where the evidence is stored.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
	// Where the objects come from: apply, helm or gitops. Default: the
	// deploySource setting.
	// +optional
	source string,
	// gitops: the password or token for an http(s):// GitOps repository
	// (--git-password=env://GIT_PASSWORD); read only by the gitops source.
	// +optional
	gitPassword *dagger.Secret,
	// gitops: the private key for an ssh:// GitOps repository, mounted as
	// a secret file.
	// +optional
	gitSshKey *dagger.Secret,
	// gitops: the commit the image was built from, for the promote
	// commit's message.
	// +optional
	revision string,
	// gitops: the CI run (CI_PIPELINE_ID, GITHUB_RUN_ID), for the promote
	// commit's message.
	// +optional
	pipelineId string,
	// The private key that signs the staging evidence (cosign.key's PEM;
	// --signing-key=env://SIGNING_KEY).
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password.
	// +optional
	signingKeyPassword *dagger.Secret,
	// A Slack incoming webhook to notify of the outcome (deployed, rolled
	// back, refused), over the with-slack setting.
	// +optional
	slackWebhook *dagger.Secret,
	// A Telegram bot's token to notify with, over the with-telegram
	// setting; it needs --telegram-chat-id.
	// +optional
	telegramToken *dagger.Secret,
	// The chat the Telegram bot posts to (-1001234567890, @channel).
	// +optional
	telegramChatId string,
	// A webhook URL that gets the outcome as a JSON event, over the
	// with-webhook setting.
	// +optional
	notifyWebhook *dagger.Secret,
	// The link the notifications carry, such as the repository's or the
	// pipeline run's URL.
	// +optional
	notifyLink string,
	// The prometheus binary that evaluates the alertRules setting, such as
	// Debian's (--prometheus=/usr/bin/prometheus). Default: the one in
	// prom/prometheus:v2.42.0.
	// +optional
	prometheus *dagger.File,
) (string, error) {
	return m.withNotifyArgs(notifyArgs{slackWebhook, telegramToken, telegramChatId, notifyWebhook, notifyLink}).
		deploy(ctx, false, image, kubeconfig, namespace, registryUsername, registryPassword, timeout, "",
			deployVia{source, gitPassword, gitSshKey, revision, pipelineId, prometheus}, evidenceArgs{signingKey: signingKey, signingKeyPW: signingKeyPassword})
}

// DeployProduction deploys to production an image that staging has
// verified and the scan found clean, after an explicit approval; a refusal
// names every check that failed, before anything is applied. The gate
// verifies, with the trusted keys (the trustedKeys setting and
// --trusted-keys), a signature on the digest, signed staging evidence,
// signed clean scans no older than --max-scan-age, and SLSA provenance of
// the sourceUrl repository; without trusted keys it refuses. Returns one
// line: namespace, digest, revision and duration. Never cached, like
// deploy-staging.
//
// +cache="never"
func (m *Slipway) DeployProduction(
	ctx context.Context,
	// The image to deploy, as repository@sha256:digest.
	image string,
	// The production cluster's kubeconfig.
	kubeconfig *dagger.Secret,
	// Confirms that a person approved this deploy.
	// +optional
	approve bool,
	// Who approved it, recorded with the deploy (GitLab's
	// GITLAB_USER_LOGIN, GitHub's github.actor).
	// +default="ci"
	approver string,
	// The namespace to deploy into; it must exist. Default: the
	// productionNamespace setting, else NAME.
	// +optional
	namespace string,
	// The user for the image registry, where the evidence is read.
	// +optional
	registryUsername string,
	// The password or token for the image registry.
	// +optional
	registryPassword *dagger.Secret,
	// How long to wait for the rollout before rolling back, as a Go
	// duration.
	// +default="10m"
	timeout string,
	// Where the objects come from: apply, helm or gitops. Default: the
	// deploySource setting.
	// +optional
	source string,
	// gitops: the password or token for an http(s):// GitOps repository
	// (--git-password=env://GIT_PASSWORD); read only by the gitops source.
	// +optional
	gitPassword *dagger.Secret,
	// gitops: the private key for an ssh:// GitOps repository, mounted as
	// a secret file.
	// +optional
	gitSshKey *dagger.Secret,
	// gitops: the commit the image was built from, for the promote
	// commit's message.
	// +optional
	revision string,
	// gitops: the CI run (CI_PIPELINE_ID, GITHUB_RUN_ID), for the promote
	// commit's message.
	// +optional
	pipelineId string,
	// More trusted public keys (PEM, several concatenated to rotate;
	// --trusted-keys=env://SLIPWAY_TRUSTED_KEYS), besides the trustedKeys
	// setting's.
	// +optional
	trustedKeys *dagger.Secret,
	// The scanners that must each have a signed clean scan, such as trivy
	// and govulncheck. Default: each scanner that recorded one, at least
	// one.
	// +optional
	scanners []string,
	// How old the latest clean scan may be, as a Go duration.
	// +default="24h"
	maxScanAge string,
	// Count staging evidence only when a post-deploy check (smoke test,
	// alerts) ran there and passed, not when the rollout alone was waited
	// for (a staging deploy with --no-verify).
	// +optional
	requireVerification bool,
	// The private key that signs production's deploy evidence.
	// +optional
	signingKey *dagger.Secret,
	// The signing key's password.
	// +optional
	signingKeyPassword *dagger.Secret,
	// The source repository the provenance must name (CI_PROJECT_URL).
	// Default: the sourceUrl setting.
	// +optional
	sourceUrl string,
	// A Slack incoming webhook to notify of the outcome (deployed, rolled
	// back, refused), over the with-slack setting.
	// +optional
	slackWebhook *dagger.Secret,
	// A Telegram bot's token to notify with, over the with-telegram
	// setting; it needs --telegram-chat-id.
	// +optional
	telegramToken *dagger.Secret,
	// The chat the Telegram bot posts to (-1001234567890, @channel).
	// +optional
	telegramChatId string,
	// A webhook URL that gets the outcome as a JSON event, over the
	// with-webhook setting.
	// +optional
	notifyWebhook *dagger.Secret,
	// The link the notifications carry, such as the repository's or the
	// pipeline run's URL.
	// +optional
	notifyLink string,
) (string, error) {
	by := ""
	if approve {
		by = approver
	}
	return m.withNotifyArgs(notifyArgs{slackWebhook, telegramToken, telegramChatId, notifyWebhook, notifyLink}).
		deploy(ctx, true, image, kubeconfig, namespace, registryUsername, registryPassword, timeout, by,
			deployVia{source, gitPassword, gitSshKey, revision, pipelineId, nil},
			evidenceArgs{signingKey: signingKey, signingKeyPW: signingKeyPassword, trustedKeys: trustedKeys, scanners: scanners, maxScanAge: maxScanAge, sourceURL: sourceUrl,
				requireVerification: requireVerification})
}

// deploy runs the deploy tool for staging or production; approver, when
// not empty, approves a production deploy.
func (m *Slipway) deploy(ctx context.Context, production bool, image string, kubeconfig *dagger.Secret, namespace,
	username string, password *dagger.Secret, timeout, approver string, via deployVia, ev evidenceArgs) (string, error) {
	env, defNamespace := "staging", m.StagingNamespace
	if production {
		env, defNamespace = "production", m.ProductionNamespace
	}
	name := "deploy-" + env
	wait, err := time.ParseDuration(timeout)
	if err != nil || wait <= 0 {
		return "", fmt.Errorf("%s: timeout %q is not a positive Go duration such as 10m", name, timeout)
	}
	if err := m.checkSource(production, via); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if kubeconfig == nil {
		return "", fmt.Errorf("%s: no kubeconfig: pass --kubeconfig=env://KUBECONFIG_%s", name, map[bool]string{false: "STAGING", true: "PRODUCTION"}[production])
	}
	c, err := handover.Client(ctx)
	if err != nil {
		return "", err
	}
	if namespace == "" {
		namespace = defNamespace
	}
	if namespace == "" {
		s, err := m.resolve(ctx)
		if err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		namespace = s.name
		if !production {
			namespace += "-staging"
		}
	}
	kc, err := handover.To(ctx, kubeconfig, c.LoadSecretFromID)
	if err != nil {
		return "", err
	}
	src, err := handover.To(ctx, m.Source, c.LoadDirectoryFromID)
	if err != nil {
		return "", err
	}
	pw, err := handover.To(ctx, password, c.LoadSecretFromID)
	if err != nil {
		return "", err
	}
	opts := append(m.kubeOptions(username, pw), kube.WithTimeout(wait))
	if approver != "" {
		opts = append(opts, kube.WithApproval(approver))
	}
	evOpts, err := m.evidenceOptions(ctx, c, production, ev)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	opts = append(opts, evOpts...)
	nopts, err := m.notifyOptions(ctx, c)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	opts = append(opts, nopts...)
	target, err := m.sourceTarget(ctx, c, production, namespace, via)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	target.Environment, target.Production, target.Namespace = env, production, namespace
	target.Kubeconfig, target.Source, target.Container = kc, src, m.Container
	target.NodeSelector = m.NodeSelector
	target.VerifyPaths, target.NoVerify = m.VerifyPaths, m.NoVerify
	if m.VerifyWindow != "" {
		w, err := time.ParseDuration(m.VerifyWindow)
		if err != nil || w < 0 {
			return "", fmt.Errorf("%s: verifyWindow %q is not a Go duration such as 10s", name, m.VerifyWindow)
		}
		target.VerifyWindow = w
	}
	// Alerts verify staging, whose evidence production's gate asks for.
	if !production && len(m.AlertRules) > 0 {
		target.AlertRules = m.AlertRules
		if m.AlertWindow != "" {
			w, err := time.ParseDuration(m.AlertWindow)
			if err != nil || w <= 0 {
				return "", fmt.Errorf("%s: alertWindow %q is not a positive Go duration such as 30s", name, m.AlertWindow)
			}
			target.AlertWindow = w
		}
		if via.prometheus != nil {
			if target.Prometheus, err = handover.To(ctx, via.prometheus, c.LoadFileFromID); err != nil {
				return "", err
			}
		}
	}
	return kube.Deploy(ctx, c, image, target, opts...)
}
