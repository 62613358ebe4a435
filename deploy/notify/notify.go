// Package notify tells a team what a deploy did: a Slack incoming webhook,
// a Telegram bot (sendMessage) or a generic webhook gets the environment,
// the digest, the result (deployed, rolled back, refused) and a link, as
// the seed's alerting (Telegram for critical events, Slack for the
// channel) does for Prometheus alerts.
//
// Credentials (the Slack webhook URL, the bot token, a webhook URL that
// carries a token, an HMAC key) are values given at construction. They
// never appear in an error: Go's *url.Error prints the whole URL, so every
// error is built from a redacted description of the endpoint, and every
// message is scrubbed of the credentials before it is returned.
//
// Every request has a timeout and is retried once on 429 or a 5xx answer,
// after the Retry-After the service asks for when that is within a bound.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Result is what a deploy, or a pipeline, came to.
type Result string

// The results.
const (
	// Deployed: the rollout completed and was verified.
	Deployed Result = "deployed"
	// RolledBack: the rollout failed and the previous revision serves
	// again.
	RolledBack Result = "rolled back"
	// Refused: production's gate refused the digest; nothing was touched.
	Refused Result = "refused"
	// Failed: the deploy failed without a healthy rollback, or a pipeline
	// failed.
	Failed Result = "failed"
	// Passed: a pipeline's stages all passed.
	Passed Result = "passed"
)

// Event is one notification.
type Event struct {
	// Environment is where the deploy went (staging, production), or "ci"
	// for a whole pipeline.
	Environment string
	// Image is the reference deployed, repository@sha256:digest.
	Image string
	// Digest is the image's digest, sha256:...; Image's when empty.
	Digest string
	// Result is what happened.
	Result Result
	// Reason says why a deploy was refused, rolled back or failed.
	Reason string
	// Link leads to the pipeline run or the environment.
	Link string
	// Pipeline names the service or the pipeline.
	Pipeline string
	// Time is when it happened; zero means now, in UTC.
	Time time.Time
}

// Notifier sends an event to one service.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Defaults.
const (
	// DefaultTimeout bounds each request: a notification must not hold a
	// deploy job for long.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxRetryWait is the longest Retry-After honoured: a service
	// that asks for a longer wait is not retried.
	DefaultMaxRetryWait = 10 * time.Second
	// DefaultRetryWait is the wait before the retry when the service does
	// not say how long.
	DefaultRetryWait = time.Second
	// maxReason bounds the reason in a message: a rollout error that names
	// many pods would exceed Telegram's 4096 characters.
	maxReason = 1000
)

// Option configures a notifier.
type Option func(*config)

type config struct {
	client       *http.Client
	timeout      time.Duration
	maxRetryWait time.Duration
	retryWait    time.Duration
	telegramAPI  string
	signingKey   []byte
	now          func() time.Time
	sleep        func(context.Context, time.Duration) error
}

// WithHTTPClient sends the requests with c (a proxy, extra CAs); its
// Timeout, if any, applies besides WithTimeout.
func WithHTTPClient(c *http.Client) Option { return func(o *config) { o.client = c } }

// WithTimeout bounds each request (DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(o *config) { o.timeout = d } }

// WithMaxRetryWait sets the longest Retry-After honoured
// (DefaultMaxRetryWait).
func WithMaxRetryWait(d time.Duration) Option { return func(o *config) { o.maxRetryWait = d } }

// WithTelegramAPI sends Telegram requests to base (a self-hosted Bot API
// server, or a test server) instead of https://api.telegram.org.
func WithTelegramAPI(base string) Option {
	return func(o *config) { o.telegramAPI = strings.TrimRight(base, "/") }
}

// WithSigningKey makes a Webhook sign each body with HMAC-SHA256 under key,
// in the X-Slipway-Signature header, so the receiver can tell slipway's
// events from forged ones.
func WithSigningKey(key []byte) Option { return func(o *config) { o.signingKey = key } }

// WithClock sets the clock that stamps events without a time (tests).
func WithClock(now func() time.Time) Option { return func(o *config) { o.now = now } }

func newConfig(opts []Option) config {
	c := config{client: http.DefaultClient, timeout: DefaultTimeout, maxRetryWait: DefaultMaxRetryWait,
		retryWait: DefaultRetryWait, telegramAPI: "https://api.telegram.org", now: time.Now, sleep: sleep}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// withDigest fills in the digest from the image.
func withDigest(e Event) Event {
	if e.Digest == "" {
		if i := strings.LastIndex(e.Image, "@"); i >= 0 {
			e.Digest = e.Image[i+1:]
		}
	}
	return e
}

// normalize fills in the digest and the time.
func (c config) normalize(e Event) Event {
	e = withDigest(e)
	if e.Time.IsZero() {
		e.Time = c.now()
	}
	e.Time = e.Time.UTC()
	return e
}

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Multi sends every event to each of its notifiers, at once, so that one
// slow service does not delay the others. Its error joins every
// notifier's.
type Multi []Notifier

var _ Notifier = Multi(nil)

// Notify sends e to every notifier and waits for all of them.
func (m Multi) Notify(ctx context.Context, e Event) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, n := range m {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = n.Notify(ctx, e)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// headline is the message's first line, such as "✅ billing · staging:
// deployed".
func headline(e Event) string {
	mark := map[Result]string{Deployed: "✅", Passed: "✅", RolledBack: "↩️", Refused: "⛔", Failed: "❌"}[e.Result]
	if mark == "" {
		mark = "ℹ️"
	}
	where := e.Environment
	if e.Pipeline != "" {
		where = e.Pipeline + " · " + where
	}
	return fmt.Sprintf("%s %s: %s", mark, where, e.Result)
}

// Text is e as plain text, the lines every service's message carries.
func (e Event) Text() string {
	e.Reason = shorten(e.Reason, maxReason)
	lines := []string{headline(e)}
	if e.Image != "" {
		lines = append(lines, "Image: "+e.Image)
	} else if e.Digest != "" {
		lines = append(lines, "Digest: "+e.Digest)
	}
	if e.Reason != "" {
		lines = append(lines, "Reason: "+e.Reason)
	}
	if e.Link != "" {
		lines = append(lines, "Link: "+e.Link)
	}
	return strings.Join(lines, "\n")
}
