package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// endpoint is where one service's requests go, with what an error may
// show of it.
type endpoint struct {
	service string // "slack", "telegram", "webhook"
	url     string
	// shown is the URL as errors print it: scheme and host, never the
	// path or query, which carry the credential.
	shown string
	// secrets are scrubbed from every message: the credential may come
	// back in a response body or an error of the transport.
	secrets []string
}

// newEndpoint checks raw (without ever printing it: url.Parse's error
// quotes the URL) and describes it for errors.
func newEndpoint(service, what, raw string, secrets ...string) (endpoint, error) {
	if strings.TrimSpace(raw) == "" {
		return endpoint{}, fmt.Errorf("%s: the %s is empty", service, what)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return endpoint{}, fmt.Errorf("%s: the %s is not an http(s):// URL with a host", service, what)
	}
	shown := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		shown += "/…"
	}
	ep := endpoint{service: service, url: raw, shown: shown, secrets: append([]string{raw}, secrets...)}
	if u.Path != "" && u.Path != "/" {
		ep.secrets = append(ep.secrets, u.Path, strings.TrimPrefix(u.Path, "/"))
	}
	if u.RawQuery != "" {
		ep.secrets = append(ep.secrets, u.RawQuery)
		for _, vs := range u.Query() {
			ep.secrets = append(ep.secrets, vs...)
		}
	}
	if pw, ok := u.User.Password(); ok {
		ep.secrets = append(ep.secrets, pw)
	}
	return ep, nil
}

// scrub replaces every credential in s.
func (ep endpoint) scrub(s string) string {
	for _, sec := range ep.secrets {
		// Short values (a one-letter query value) would blank out ordinary
		// words; a credential is never that short.
		if len(sec) >= 6 {
			s = strings.ReplaceAll(s, sec, "…")
		}
	}
	return s
}

// Error is a notification that did not get through. Its message names
// the service and the endpoint without its credential.
type Error struct {
	// Service is slack, telegram or webhook.
	Service string
	// Status is the last HTTP status, 0 when no answer came.
	Status int
	msg    string
	err    error
}

// Error returns the scrubbed message.
func (e *Error) Error() string { return e.msg }

// Unwrap exposes the transport's error (a context deadline, a refused
// connection) without the *url.Error around it, which quotes the URL.
func (e *Error) Unwrap() error { return e.err }

func (ep endpoint) fail(status int, err error, format string, args ...any) *Error {
	msg := fmt.Sprintf("%s: POST %s: %s", ep.service, ep.shown, fmt.Sprintf(format, args...))
	return &Error{Service: ep.service, Status: status, msg: ep.scrub(msg), err: err}
}

// answer is one response: its status, body and the wait it asks for.
type answer struct {
	status     int
	body       []byte
	retryAfter time.Duration
	hasWait    bool
}

// post sends body to ep, retrying once on 429 and 5xx, and hands a 2xx
// answer's body to check.
func (c config) post(ctx context.Context, ep endpoint, body []byte, header http.Header, check func([]byte) error) error {
	var last answer
	for attempt := 0; ; attempt++ {
		a, err := c.once(ctx, ep, body, header)
		if err != nil {
			if attempt > 0 {
				return ep.fail(last.status, err, "%s (retried after HTTP %d)", err, last.status)
			}
			return ep.fail(0, err, "%s", err)
		}
		if a.status/100 == 2 {
			if err := check(a.body); err != nil {
				return ep.fail(a.status, nil, "%s", err)
			}
			return nil
		}
		retriable := a.status == http.StatusTooManyRequests || a.status >= 500
		if !retriable || attempt > 0 {
			detail := fmt.Sprintf("HTTP %d%s", a.status, snippet(a.body))
			if attempt > 0 {
				detail += " (after one retry)"
			}
			return ep.fail(a.status, nil, "%s", detail)
		}
		wait := c.retryWait
		if a.hasWait {
			wait = a.retryAfter
		}
		if wait > c.maxRetryWait {
			return ep.fail(a.status, nil, "HTTP %d%s: asked to retry after %s, longer than the %s bound: not retried",
				a.status, snippet(a.body), wait, c.maxRetryWait)
		}
		if err := c.sleep(ctx, wait); err != nil {
			return ep.fail(a.status, err, "HTTP %d, and no retry: %v", a.status, err)
		}
		last = a
	}
}

// once sends one request within the timeout.
func (c config) once(ctx context.Context, ep endpoint, body []byte, header http.Header) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(body))
	if err != nil {
		return answer{}, errors.New("cannot build the request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "slipway-notify")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// *url.Error's message is "Post \"URL\": cause": keep the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return answer{}, fmt.Errorf("no answer within %s: %w", c.timeout, err)
		}
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{status: resp.StatusCode, body: b}
	a.retryAfter, a.hasWait = c.retryAfter(resp.Header.Get("Retry-After"), b)
	return a, nil
}

// retryAfter reads Retry-After (seconds or an HTTP date), or Telegram's
// parameters.retry_after in the body.
func (c config) retryAfter(h string, body []byte) (time.Duration, bool) {
	if h = strings.TrimSpace(h); h != "" {
		if s, err := strconv.Atoi(h); err == nil && s >= 0 {
			return time.Duration(s) * time.Second, true
		}
		if t, err := http.ParseTime(h); err == nil {
			d := t.Sub(c.now())
			if d < 0 {
				d = 0
			}
			return d, true
		}
	}
	var tg struct {
		Parameters struct {
			RetryAfter *int `json:"retry_after"`
		} `json:"parameters"`
	}
	if json.Unmarshal(body, &tg) == nil && tg.Parameters.RetryAfter != nil {
		return time.Duration(*tg.Parameters.RetryAfter) * time.Second, true
	}
	return 0, false
}

// snippet is the start of a response body, for an error: Slack answers
// "invalid_payload", Telegram a JSON description.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return ""
	}
	return ": " + shorten(s, 200)
}
