package main

// Notifications: the deploy functions and ci tell a Slack channel, a
// Telegram chat or a webhook what happened (deploy/notify, run by the
// deploy tool). The credentials are Dagger secrets, which reach the tool's
// container only as secret variables: never arguments, never plain
// variables, never this module's output.

import (
	"context"
	"fmt"
	"strings"

	sdk "dagger.io/dagger"

	"github.com/slipway-ci/slipway/dagger/internal/dagger"
	"github.com/slipway-ci/slipway/stage/handover"
	"github.com/slipway-ci/slipway/stage/kube"
)

// WithSlack notifies a Slack channel, through its incoming webhook, of
// every deploy (deployed, rolled back, refused) and of ci's verdict.
func (m *Slipway) WithSlack(
	// The incoming webhook's URL (https://hooks.slack.com/services/...):
	// --webhook=env://SLACK_WEBHOOK_URL.
	webhook *dagger.Secret,
) *Slipway {
	m.NotifySlack = webhook
	return m
}

// WithTelegram notifies a Telegram chat through a bot's sendMessage.
func (m *Slipway) WithTelegram(
	// The bot's token from BotFather: --token=env://TELEGRAM_BOT_TOKEN.
	token *dagger.Secret,
	// The chat: -1001234567890 or @channel.
	chatId string,
	// A self-hosted Bot API server instead of https://api.telegram.org.
	// +optional
	apiUrl string,
) *Slipway {
	m.NotifyTelegramToken, m.NotifyTelegramChat, m.NotifyTelegramAPI = token, chatId, apiUrl
	return m
}

// WithWebhook posts every deploy's outcome as a JSON event (environment,
// image, digest, result, reason, link, pipeline, time, text) to a URL.
func (m *Slipway) WithWebhook(
	// The URL; it may carry a token, so it is a secret.
	url *dagger.Secret,
	// A key that signs each body with HMAC-SHA256, in the
	// X-Slipway-Signature header (sha256=HEX).
	// +optional
	signingKey *dagger.Secret,
) *Slipway {
	m.NotifyWebhook, m.NotifyWebhookKey = url, signingKey
	return m
}

// WithNotify sets what every notification carries, and whether a failed
// one fails the deploy.
func (m *Slipway) WithNotify(
	// The link the messages carry, such as the pipeline run's URL.
	// +optional
	link string,
	// The name the messages give the service. Default: the service's name.
	// +optional
	pipeline string,
	// A notification that fails fails the deploy (default: a warning in
	// its line).
	// +optional
	required bool,
) *Slipway {
	m.NotifyLink, m.NotifyPipeline, m.NotifyRequired = link, pipeline, required
	return m
}

// notifyArgs are the notification arguments of the deploy functions,
// which override the With* settings: a generated CI job can pass
// env:// secrets only as arguments of the function it calls.
type notifyArgs struct {
	slack, telegramToken *dagger.Secret
	telegramChat         string
	webhook              *dagger.Secret
	link                 string
}

// withNotifyArgs returns a copy of m with the arguments given over its
// settings.
func (m *Slipway) withNotifyArgs(a notifyArgs) *Slipway {
	c := *m
	if a.slack != nil {
		c.NotifySlack = a.slack
	}
	if a.telegramToken != nil {
		c.NotifyTelegramToken = a.telegramToken
	}
	if a.telegramChat != "" {
		c.NotifyTelegramChat = a.telegramChat
	}
	if a.webhook != nil {
		c.NotifyWebhook = a.webhook
	}
	if a.link != "" {
		c.NotifyLink = a.link
	}
	return &c
}

// notifySettings hands the settings' secrets over to the stage's client;
// nil when no service is configured.
func (m *Slipway) notifySettings(ctx context.Context, c *sdk.Client) (*kube.Notify, error) {
	if m.NotifySlack == nil && m.NotifyTelegramToken == nil && m.NotifyWebhook == nil {
		if m.NotifyWebhookKey != nil {
			return nil, fmt.Errorf("notifications: a webhook signing key but no webhook: call with-webhook with --url")
		}
		return nil, nil
	}
	if m.NotifyTelegramToken != nil && strings.TrimSpace(m.NotifyTelegramChat) == "" {
		return nil, fmt.Errorf("notifications: a Telegram bot token but no chat: pass --telegram-chat-id (or with-telegram --chat-id)")
	}
	n := &kube.Notify{TelegramChat: m.NotifyTelegramChat, TelegramAPI: m.NotifyTelegramAPI,
		Link: m.NotifyLink, Pipeline: m.NotifyPipeline, Required: m.NotifyRequired}
	if n.Pipeline == "" {
		n.Pipeline = m.Name
	}
	var err error
	for _, s := range []struct {
		from *dagger.Secret
		to   **sdk.Secret
	}{{m.NotifySlack, &n.Slack}, {m.NotifyTelegramToken, &n.TelegramToken}, {m.NotifyWebhook, &n.Webhook}, {m.NotifyWebhookKey, &n.WebhookKey}} {
		if *s.to, err = handover.To(ctx, s.from, c.LoadSecretFromID); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// notifyOptions is the deploy tool's notification option, if any.
func (m *Slipway) notifyOptions(ctx context.Context, c *sdk.Client) ([]kube.Option, error) {
	n, err := m.notifySettings(ctx, c)
	if err != nil || n == nil {
		return nil, err
	}
	return []kube.Option{kube.WithNotify(*n)}, nil
}

// notifyVerdict tells the configured services of ci's verdict; what it
// returns is the line for ci's summary, empty when nothing is configured.
// A failed notification is ci's error only when required.
func (m *Slipway) notifyVerdict(ctx context.Context, c *sdk.Client, image string, ciErr error, problem string) (string, error) {
	n, err := m.notifySettings(ctx, c)
	if err != nil || n == nil {
		return "", err
	}
	result, reason := "passed", ""
	switch {
	case ciErr != nil:
		result, reason = "failed", ciErr.Error()
	case problem != "":
		result, reason = "failed", problem
	}
	line, err := kube.SendNotification(ctx, c, *n, "ci", result, image, reason, m.kubeOptions("", nil)...)
	if err != nil {
		if n.Required {
			return "", err
		}
		return "WARNING: notification failed: " + err.Error(), nil
	}
	return line, nil
}
