package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Slack posts to a Slack incoming webhook: a fallback text and Block Kit
// blocks with the environment, result, digest and link.
type Slack struct {
	ep endpoint
	c  config
}

var _ Notifier = (*Slack)(nil)

// NewSlack returns a notifier for the incoming webhook at webhookURL
// (https://hooks.slack.com/services/...), which is the credential.
func NewSlack(webhookURL string, opts ...Option) (*Slack, error) {
	ep, err := newEndpoint("slack", "webhook URL", webhookURL)
	if err != nil {
		return nil, err
	}
	return &Slack{ep: ep, c: newConfig(opts)}, nil
}

// slackEscape escapes what Slack's mrkdwn treats as markup.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// slackLink keeps a URL from ending Slack's <url|text> early.
var slackLink = strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C")

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// SlackMessage is the webhook's JSON body for e.
func SlackMessage(e Event) ([]byte, error) {
	e = withDigest(e)
	e.Reason = shorten(e.Reason, maxReason)
	md := func(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }
	blocks := []slackBlock{{Type: "section", Text: ptr(md("*" + slackEscape.Replace(headline(e)) + "*"))}}
	fields := []slackText{
		md("*Environment*\n" + slackEscape.Replace(e.Environment)),
		md("*Result*\n" + string(e.Result)),
	}
	if e.Digest != "" {
		fields = append(fields, md("*Digest*\n`"+slackEscape.Replace(e.Digest)+"`"))
	}
	if e.Pipeline != "" {
		fields = append(fields, md("*Pipeline*\n"+slackEscape.Replace(e.Pipeline)))
	}
	blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	if e.Image != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: ptr(md("*Image*\n`" + slackEscape.Replace(e.Image) + "`"))})
	}
	if e.Reason != "" {
		blocks = append(blocks, slackBlock{Type: "section", Text: ptr(md("*Reason*\n" + slackEscape.Replace(e.Reason)))})
	}
	ctx := e.Time.Format(time.RFC3339)
	if e.Link != "" {
		ctx = "<" + slackLink.Replace(e.Link) + "|Open the run> · " + ctx
	}
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{md(ctx)}})
	return marshal(struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}{e.Text(), blocks})
}

// Notify posts e; Slack answers "ok".
func (s *Slack) Notify(ctx context.Context, e Event) error {
	body, err := SlackMessage(s.c.normalize(e))
	if err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return s.c.post(ctx, s.ep, body, nil, func(b []byte) error {
		if got := strings.TrimSpace(string(b)); got != "" && got != "ok" {
			return fmt.Errorf("unexpected answer%s", snippet(b))
		}
		return nil
	})
}

// Telegram sends a message with a bot's sendMessage.
type Telegram struct {
	ep   endpoint
	chat string
	c    config
}

var _ Notifier = (*Telegram)(nil)

// telegramToken is the form BotFather gives: the bot's ID, a colon and
// the secret.
var telegramToken = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)

// NewTelegram returns a notifier for the bot with token, posting to chat
// (a numeric ID such as -1001234567890, or @channelname).
func NewTelegram(token, chat string, opts ...Option) (*Telegram, error) {
	c := newConfig(opts)
	switch {
	case token == "":
		return nil, fmt.Errorf("telegram: the bot token is empty")
	case !telegramToken.MatchString(token):
		return nil, fmt.Errorf("telegram: the bot token is not of the form 123456:ABC-DEF (as BotFather gives it)")
	case strings.TrimSpace(chat) == "":
		return nil, fmt.Errorf("telegram: no chat ID: name the chat (-1001234567890 or @channel)")
	}
	ep, err := newEndpoint("telegram", "Bot API URL", c.telegramAPI+"/bot"+token+"/sendMessage", token)
	if err != nil {
		return nil, err
	}
	// The path is the token's: show the method, not the bot.
	ep.shown = strings.TrimSuffix(ep.shown, "/…") + "/bot…/sendMessage"
	return &Telegram{ep: ep, chat: strings.TrimSpace(chat), c: c}, nil
}

// TelegramText is e as the HTML that sendMessage gets.
func TelegramText(e Event) string {
	e.Reason = shorten(e.Reason, maxReason)
	esc := html.EscapeString
	lines := []string{"<b>" + esc(headline(e)) + "</b>"}
	if e.Image != "" {
		lines = append(lines, "Image: <code>"+esc(e.Image)+"</code>")
	} else if e.Digest != "" {
		lines = append(lines, "Digest: <code>"+esc(e.Digest)+"</code>")
	}
	if e.Reason != "" {
		lines = append(lines, "Reason: "+esc(e.Reason))
	}
	if e.Link != "" {
		lines = append(lines, `<a href="`+esc(e.Link)+`">Open the run</a>`)
	}
	return strings.Join(lines, "\n")
}

// Notify sends e; the Bot API answers {"ok":true,...}.
func (t *Telegram) Notify(ctx context.Context, e Event) error {
	body, err := marshal(struct {
		ChatID      string `json:"chat_id"`
		Text        string `json:"text"`
		ParseMode   string `json:"parse_mode"`
		LinkPreview struct {
			Disabled bool `json:"is_disabled"`
		} `json:"link_preview_options"`
	}{ChatID: t.chat, Text: TelegramText(t.c.normalize(e)), ParseMode: "HTML", LinkPreview: struct {
		Disabled bool `json:"is_disabled"`
	}{true}})
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	return t.c.post(ctx, t.ep, body, nil, func(b []byte) error {
		var r struct {
			OK          bool   `json:"ok"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(b, &r); err != nil || !r.OK {
			return fmt.Errorf("the Bot API did not answer ok%s", snippet(b))
		}
		return nil
	})
}

// Webhook posts e as a JSON event to any URL, for a team's own receiver
// (a chat bridge, an incident tool, an audit log).
type Webhook struct {
	ep endpoint
	c  config
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook returns a notifier for url, which may carry a token in its
// path or query: it is treated as a credential.
func NewWebhook(url string, opts ...Option) (*Webhook, error) {
	c := newConfig(opts)
	ep, err := newEndpoint("webhook", "webhook URL", url, string(c.signingKey))
	if err != nil {
		return nil, err
	}
	return &Webhook{ep: ep, c: c}, nil
}

// WebhookEvent is the body a Webhook posts.
type WebhookEvent struct {
	Environment string `json:"environment"`
	Image       string `json:"image"`
	Digest      string `json:"digest"`
	Result      Result `json:"result"`
	Reason      string `json:"reason"`
	Link        string `json:"link"`
	Pipeline    string `json:"pipeline"`
	Time        string `json:"time"`
	// Text is the plain-text message, for receivers that show one
	// (Mattermost and Rocket.Chat read "text").
	Text string `json:"text"`
}

// SignatureHeader carries the body's HMAC-SHA256 under the signing key, as
// sha256=HEX.
const SignatureHeader = "X-Slipway-Signature"

// Sign returns the SignatureHeader value of body under key.
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify posts e; any 2xx answer is success.
func (w *Webhook) Notify(ctx context.Context, e Event) error {
	e = w.c.normalize(e)
	body, err := marshal(WebhookEvent{Environment: e.Environment, Image: e.Image, Digest: e.Digest, Result: e.Result,
		Reason: e.Reason, Link: e.Link, Pipeline: e.Pipeline, Time: e.Time.Format(time.RFC3339), Text: e.Text()})
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	var h http.Header
	if len(w.c.signingKey) > 0 {
		h = http.Header{SignatureHeader: {Sign(w.c.signingKey, body)}}
	}
	return w.c.post(ctx, w.ep, body, h, func([]byte) error { return nil })
}

// marshal is json.Marshal without HTML escaping: "<" in a Slack link or a
// Telegram tag stays as written.
func marshal(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}

func ptr[T any](v T) *T { return &v }

// Config names the services to notify, with their credentials; an empty
// field leaves its service out.
type Config struct {
	// SlackWebhook is a Slack incoming webhook URL.
	SlackWebhook string
	// TelegramToken and TelegramChat are a bot's token and the chat it
	// posts to.
	TelegramToken, TelegramChat string
	// WebhookURL is a generic webhook; WebhookKey, if set, signs its
	// bodies (SignatureHeader).
	WebhookURL, WebhookKey string
}

// Services names the services c configures, in a fixed order.
func (c Config) Services() []string {
	var s []string
	if c.SlackWebhook != "" {
		s = append(s, "slack")
	}
	if c.TelegramToken != "" || c.TelegramChat != "" {
		s = append(s, "telegram")
	}
	if c.WebhookURL != "" || c.WebhookKey != "" {
		s = append(s, "webhook")
	}
	return s
}

// Notifiers returns a notifier for each service c configures; nil when
// none. A half-configured service (a bot token without a chat) is an
// error, not a silent skip.
func (c Config) Notifiers(opts ...Option) (Multi, error) {
	var m Multi
	if c.SlackWebhook != "" {
		s, err := NewSlack(c.SlackWebhook, opts...)
		if err != nil {
			return nil, err
		}
		m = append(m, s)
	}
	switch {
	case c.TelegramToken != "":
		t, err := NewTelegram(c.TelegramToken, c.TelegramChat, opts...)
		if err != nil {
			return nil, err
		}
		m = append(m, t)
	case c.TelegramChat != "":
		return nil, fmt.Errorf("telegram: a chat ID but no bot token")
	}
	switch {
	case c.WebhookURL != "":
		o := opts
		if c.WebhookKey != "" {
			o = append(append([]Option(nil), opts...), WithSigningKey([]byte(c.WebhookKey)))
		}
		w, err := NewWebhook(c.WebhookURL, o...)
		if err != nil {
			return nil, err
		}
		m = append(m, w)
	case c.WebhookKey != "":
		return nil, fmt.Errorf("webhook: a signing key but no webhook URL")
	}
	return m, nil
}
