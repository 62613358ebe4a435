package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger.io/dagger"
)

// Notify is whom a deploy tells of its outcome (deployed, rolled back,
// refused, failed), through the deploy tool (deploy/notify). Every
// credential reaches the tool's container as a secret variable, never as
// an argument or a plain variable, so it shows in no trace or log.
type Notify struct {
	// Slack is a Slack incoming webhook URL.
	Slack *dagger.Secret
	// TelegramToken is a Telegram bot's token; TelegramChat the chat it
	// posts to (-1001234567890, @channel). TelegramAPI, when set, is a
	// self-hosted Bot API server.
	TelegramToken *dagger.Secret
	TelegramChat  string
	TelegramAPI   string
	// Webhook is a generic webhook URL (it may carry a token); WebhookKey,
	// if set, signs the bodies with HMAC-SHA256.
	Webhook    *dagger.Secret
	WebhookKey *dagger.Secret
	// Link is the link the messages carry (the pipeline run); Pipeline
	// names the service or pipeline.
	Link, Pipeline string
	// Required makes a failed notification fail the deploy; otherwise it
	// is a warning in the deploy's line.
	Required bool
}

// WithNotify makes Deploy notify n's services.
func WithNotify(n Notify) Option { return func(c *config) { c.notify = &n } }

// configured reports whether n names any service.
func (n *Notify) configured() bool {
	return n != nil && (n.Slack != nil || n.TelegramToken != nil || n.Webhook != nil)
}

// apply gives the tool the credentials as secret variables and the rest
// as flags.
func (n *Notify) apply(ctr *dagger.Container, args []string) (*dagger.Container, []string) {
	if !n.configured() {
		return ctr, args
	}
	// In a fixed order: the container's definition is the same for the
	// same settings.
	secrets := []struct {
		name string
		s    *dagger.Secret
	}{{"SLACK_WEBHOOK_URL", n.Slack}, {"TELEGRAM_BOT_TOKEN", n.TelegramToken},
		{"NOTIFY_WEBHOOK_URL", n.Webhook}, {"NOTIFY_WEBHOOK_SECRET", n.WebhookKey}}
	for _, sec := range secrets {
		if sec.s != nil {
			ctr = ctr.WithSecretVariable(sec.name, sec.s)
		}
	}
	flags := []struct{ name, value string }{
		{"telegram-chat-id", n.TelegramChat}, {"telegram-api-url", n.TelegramAPI},
		{"notify-link", n.Link}, {"notify-pipeline", n.Pipeline},
	}
	for _, f := range flags {
		if f.value != "" {
			args = append(args, "--"+f.name+"="+f.value)
		}
	}
	if n.Required {
		args = append(args, "--notify-required")
	}
	return ctr, args
}

// SendNotification tells n's services of a pipeline's verdict (result
// passed or failed) or of any other event (deployed, rolled-back,
// refused), through the deploy tool's notify subcommand. It returns the
// tool's line: whom it notified, or the warning. Without a configured
// service it runs nothing.
func SendNotification(ctx context.Context, client *dagger.Client, n Notify, environment, result, image, reason string, opts ...Option) (string, error) {
	if !n.configured() {
		return "no notification configured", nil
	}
	c := newConfig(opts)
	ctr, args := n.apply(Tool(client, opts...), []string{"slipway-deploy", "notify",
		"--environment=" + environment, "--result=" + result})
	if image != "" {
		args = append(args, "--image="+image)
	}
	if reason = strings.TrimSpace(reason); reason != "" {
		args = append(args, "--reason="+reason)
	}
	// A notification is a new fact each time: never replay one.
	ctr = ctr.WithEnvVariable("SLIPWAY_NOTIFY_AT", c.now().UTC().Format(time.RFC3339Nano))
	line, err := run(ctx, "notify", ctr, args)
	if err != nil {
		return "", fmt.Errorf("notify: %w", err)
	}
	return line, nil
}
