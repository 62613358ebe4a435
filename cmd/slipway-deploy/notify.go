package main

// Notifications (deploy/notify): after a staging or production deploy,
// whatever its outcome (deployed, rolled back, refused by the gate,
// failed), and for a whole pipeline's verdict (the notify subcommand, which
// the module's ci function runs). The credentials come from variables only,
// as the registry password does: a flag shows in the process list and in
// Dagger's traces.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/notify"
)

// The variables the notification credentials come from.
const (
	envSlackWebhook  = "SLACK_WEBHOOK_URL"
	envTelegramToken = "TELEGRAM_BOT_TOKEN"
	envTelegramChat  = "TELEGRAM_CHAT_ID"
	envWebhookURL    = "NOTIFY_WEBHOOK_URL"
	envWebhookSecret = "NOTIFY_WEBHOOK_SECRET"
	envPipelineURL   = "CI_PIPELINE_URL"
	envTelegramAPI   = "TELEGRAM_API_URL"
)

// notifyFlags are the notification settings every deploy subcommand
// takes.
type notifyFlags struct {
	telegramChat, telegramAPI, link, pipeline, timeout string
	required                                           bool
}

func (n *notifyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.telegramChat, "telegram-chat-id", "", "the chat the Telegram bot (TELEGRAM_BOT_TOKEN) posts to (default: TELEGRAM_CHAT_ID)")
	fs.StringVar(&n.telegramAPI, "telegram-api-url", "", "a self-hosted Telegram Bot API server (default: TELEGRAM_API_URL, else https://api.telegram.org)")
	fs.StringVar(&n.link, "notify-link", "", "the link notifications carry: the pipeline run (default: CI_PIPELINE_URL)")
	fs.StringVar(&n.pipeline, "notify-pipeline", "", "the service or pipeline notifications name")
	fs.StringVar(&n.timeout, "notify-timeout", notify.DefaultTimeout.String(), "how long each notification request may take")
	fs.BoolVar(&n.required, "notify-required", false, "a notification that fails fails the command (default: a warning)")
}

// notifiers reads the credentials and returns the notifiers and the
// services' names; none configured is no notifier and no error. A bad
// setting is a usage error, found before anything is deployed.
func (n notifyFlags) notifiers(stage string, getenv func(string) string) (notify.Multi, []string, error) {
	chat := n.telegramChat
	if chat == "" {
		chat = getenv(envTelegramChat)
	}
	cfg := notify.Config{
		SlackWebhook:  strings.TrimSpace(getenv(envSlackWebhook)),
		TelegramToken: strings.TrimSpace(getenv(envTelegramToken)),
		TelegramChat:  chat,
		WebhookURL:    strings.TrimSpace(getenv(envWebhookURL)),
		WebhookKey:    getenv(envWebhookSecret),
	}
	wait, err := time.ParseDuration(n.timeout)
	if err != nil || wait <= 0 {
		return nil, nil, fmt.Errorf("%s: --notify-timeout=%q is not a positive Go duration such as 10s: %w", stage, n.timeout, errUsage)
	}
	opts := []notify.Option{notify.WithTimeout(wait)}
	api := n.telegramAPI
	if api == "" {
		api = getenv(envTelegramAPI)
	}
	if api != "" {
		opts = append(opts, notify.WithTelegramAPI(api))
	}
	m, err := cfg.Notifiers(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v (notifications come from %s, %s with --telegram-chat-id, and %s with %s): %w",
			stage, err, envSlackWebhook, envTelegramToken, envWebhookURL, envWebhookSecret, errUsage)
	}
	if n.required && len(m) == 0 {
		return nil, nil, fmt.Errorf("%s: --notify-required, but no notification is configured: set %s, %s (with a chat) or %s: %w",
			stage, envSlackWebhook, envTelegramToken, envWebhookURL, errUsage)
	}
	return m, cfg.Services(), nil
}

// outcome is what a deploy's error makes of it for a notification.
func outcome(err error) (notify.Result, string) {
	var gerr *deploy.GateError
	var rerr *deploy.RolloutError
	switch {
	case err == nil:
		return notify.Deployed, ""
	case errors.As(err, &gerr):
		return notify.Refused, strings.Join(gerr.Failed, "; ")
	case errors.As(err, new(*refusal)):
		return notify.Refused, err.Error()
	case errors.As(err, &rerr) && rerr.RolledBack:
		return notify.RolledBack, err.Error()
	default:
		return notify.Failed, err.Error()
	}
}

// notifyAfter sends the deploy's outcome and folds the notification's own
// outcome into the command's: on success the line says who was notified,
// or carries the warning; a failed notification fails the command only
// with --notify-required.
func notifyAfter(ctx context.Context, stage string, m notify.Multi, services []string, n notifyFlags,
	e notify.Event, line string, deployErr error, getenv func(string) string, warn io.Writer) (string, error) {
	if len(m) == 0 {
		return line, deployErr
	}
	if e.Link == "" {
		e.Link = getenv(envPipelineURL)
	}
	e.Result, e.Reason = outcome(deployErr)
	// The deploy may have used up the job's context (a cancelled job
	// still tells the team); the notifiers bound each request themselves.
	err := m.Notify(context.WithoutCancel(ctx), e)
	switch {
	case err == nil && deployErr == nil:
		return line + "; notified " + strings.Join(services, ", "), nil
	case err == nil:
		return line, deployErr
	case n.required && deployErr == nil:
		return "", fmt.Errorf("%s: %s, but the notification failed (--notify-required): %v", stage, line, oneLine(err))
	case deployErr == nil:
		fmt.Fprintf(warn, "%s: warning: notification failed (not required): %v\n", stage, oneLine(err))
		return line + "; WARNING: notification failed: " + oneLine(err), nil
	default:
		return line, fmt.Errorf("%w; the notification failed too: %v", deployErr, oneLine(err))
	}
}

// oneLine joins a Multi's errors, one a line, into one line.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// runNotify sends one event without deploying: a whole pipeline's
// verdict (the module's ci function), or a team's own step.
//
//	slipway-deploy notify --environment=ci --result=passed|failed|deployed|rolled-back|refused
//	                      [--image=REPO@sha256:D] [--reason=TEXT] [notification flags]
func runNotify(ctx context.Context, args []string, getenv func(string) string, warn io.Writer) (string, error) {
	const stage = "notify"
	fs := flag.NewFlagSet(stage, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var n notifyFlags
	n.register(fs)
	env := fs.String("environment", "", "the environment, or ci for a pipeline")
	result := fs.String("result", "", "passed, failed, deployed, rolled-back or refused")
	image := fs.String("image", "", "the image, as repository@sha256:digest")
	reason := fs.String("reason", "", "why it failed")
	if err := fs.Parse(args); err != nil {
		return "", fmt.Errorf("%s: %v: %w", stage, err, errUsage)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("%s: unexpected arguments %q: %w", stage, fs.Args(), errUsage)
	}
	results := map[string]notify.Result{"passed": notify.Passed, "failed": notify.Failed, "deployed": notify.Deployed,
		"rolled-back": notify.RolledBack, "refused": notify.Refused}
	r, ok := results[*result]
	switch {
	case *env == "":
		return "", fmt.Errorf("%s: no --environment: name the environment, or ci for a pipeline: %w", stage, errUsage)
	case !ok:
		return "", fmt.Errorf("%s: --result=%q: want passed, failed, deployed, rolled-back or refused: %w", stage, *result, errUsage)
	}
	m, services, err := n.notifiers(stage, getenv)
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "no notification configured", nil
	}
	e := notify.Event{Environment: *env, Image: *image, Result: r, Reason: *reason, Link: n.link, Pipeline: n.pipeline}
	if e.Link == "" {
		e.Link = getenv(envPipelineURL)
	}
	if err := m.Notify(ctx, e); err != nil {
		if n.required {
			return "", fmt.Errorf("%s: %v", stage, oneLine(err))
		}
		fmt.Fprintf(warn, "%s: warning: notification failed (not required): %v\n", stage, oneLine(err))
		return "WARNING: notification failed: " + oneLine(err), nil
	}
	return "notified " + strings.Join(services, ", "), nil
}
