package notify_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/deploy/notify"
)

// request is what a stand-in service received.
type request struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// standIn serves the answers in order (the last one repeats) and records
// every request.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

type reply struct {
	status int
	header map[string]string
	body   string
}

func newStandIn(t *testing.T, replies ...reply) *standIn {
	t.Helper()
	s := &standIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		n := len(s.requests)
		s.requests = append(s.requests, request{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Clone()})
		s.mu.Unlock()
		rep := replies[min(n, len(replies)-1)]
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(rep.status)
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) got() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// one returns the only request, failing unless there was exactly one.
func (s *standIn) one(t *testing.T) request {
	t.Helper()
	got := s.got()
	if len(got) != 1 {
		t.Fatalf("the service got %d requests, want 1: %+v", len(got), got)
	}
	return got[0]
}

const (
	image    = "registry.example.com/team/billing@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	digest   = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	botToken = "123456789:AAE-secret_bot-token-XYZ"
	slackKey = "T000/B000/secret-slack-hook-key"
)

var at = time.Date(2026, 12, 4, 21, 30, 0, 0, time.UTC)

func rolledBack() notify.Event {
	return notify.Event{Environment: "staging", Image: image, Result: notify.RolledBack,
		Reason: "rollout failed: pod web-1 (CrashLoopBackOff) <exit 1> & more", Link: "https://gitlab.example.com/team/billing/-/pipelines/42",
		Pipeline: "billing", Time: at}
}

func TestSlackRequest(t *testing.T) {
	srv := newStandIn(t, reply{200, nil, "ok"})
	s, err := notify.NewSlack(srv.URL + "/services/" + slackKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(context.Background(), rolledBack()); err != nil {
		t.Fatal(err)
	}
	r := srv.one(t)
	if r.Method != "POST" || r.Path != "/services/"+slackKey || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("User-Agent") != "slipway-notify" {
		t.Errorf("request %s %s, Content-Type %q, User-Agent %q", r.Method, r.Path, r.Header.Get("Content-Type"), r.Header.Get("User-Agent"))
	}
	want := `{"text":"↩️ billing · staging: rolled back\nImage: ` + image + `\nReason: rollout failed: pod web-1 (CrashLoopBackOff) <exit 1> & more\nLink: https://gitlab.example.com/team/billing/-/pipelines/42",` +
		`"blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*↩️ billing · staging: rolled back*"}},` +
		`{"type":"section","fields":[{"type":"mrkdwn","text":"*Environment*\nstaging"},{"type":"mrkdwn","text":"*Result*\nrolled back"},{"type":"mrkdwn","text":"*Digest*\n` + "`" + digest + "`" + `"},{"type":"mrkdwn","text":"*Pipeline*\nbilling"}]},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"*Image*\n` + "`" + image + "`" + `"}},` +
		`{"type":"section","text":{"type":"mrkdwn","text":"*Reason*\nrollout failed: pod web-1 (CrashLoopBackOff) &lt;exit 1&gt; &amp; more"}},` +
		`{"type":"context","elements":[{"type":"mrkdwn","text":"<https://gitlab.example.com/team/billing/-/pipelines/42|Open the run> · 2026-12-04T21:30:00Z"}]}]}`
	if r.Body != want {
		t.Errorf("body:\n%s\nwant:\n%s", r.Body, want)
	}
}

func TestTelegramRequest(t *testing.T) {
	srv := newStandIn(t, reply{200, nil, `{"ok":true,"result":{"message_id":7}}`})
	tg, err := notify.NewTelegram(botToken, "-1001234567890", notify.WithTelegramAPI(srv.URL+"/"))
	if err != nil {
		t.Fatal(err)
	}
	e := notify.Event{Environment: "production", Image: image, Result: notify.Refused,
		Reason: `environment "production" refuses it: not approved`, Link: "https://ci.example.com/run?id=1&x=2", Time: at}
	if err := tg.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := srv.one(t)
	if r.Path != "/bot"+botToken+"/sendMessage" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s, Content-Type %q", r.Method, r.Path, r.Header.Get("Content-Type"))
	}
	want := `{"chat_id":"-1001234567890","text":"<b>⛔ production: refused</b>\nImage: <code>` + image + `</code>\n` +
		`Reason: environment &#34;production&#34; refuses it: not approved\n<a href=\"https://ci.example.com/run?id=1&amp;x=2\">Open the run</a>",` +
		`"parse_mode":"HTML","link_preview_options":{"is_disabled":true}}`
	if r.Body != want {
		t.Errorf("body:\n%s\nwant:\n%s", r.Body, want)
	}
}

func TestWebhookRequest(t *testing.T) {
	srv := newStandIn(t, reply{204, nil, ""})
	key := []byte("hmac-signing-key-42")
	w, err := notify.NewWebhook(srv.URL+"/hooks/deploys?token=webhook-query-token", notify.WithSigningKey(key))
	if err != nil {
		t.Fatal(err)
	}
	e := notify.Event{Environment: "staging", Image: image, Result: notify.Deployed, Pipeline: "billing", Time: at.Add(time.Hour).In(time.FixedZone("MSK", 3*3600))}
	if err := w.Notify(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := srv.one(t)
	if r.Path != "/hooks/deploys" || r.Query != "token=webhook-query-token" {
		t.Errorf("request %s ?%s", r.Path, r.Query)
	}
	want := `{"environment":"staging","image":"` + image + `","digest":"` + digest + `","result":"deployed","reason":"","link":"","pipeline":"billing",` +
		`"time":"2026-12-04T22:30:00Z","text":"✅ billing · staging: deployed\nImage: ` + image + `"}`
	if r.Body != want {
		t.Errorf("body:\n%s\nwant:\n%s", r.Body, want)
	}
	if got, want := r.Header.Get(notify.SignatureHeader), notify.Sign(key, []byte(want)); got != want || !strings.HasPrefix(got, "sha256=") || len(got) != 7+64 {
		t.Errorf("signature %q, want %q", got, want)
	}
}

// The retry: once on 429 and 5xx, after the Retry-After asked for within
// the bound; never on 4xx; never twice.
func TestRetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replies  []reply
		requests int
		waits    []time.Duration
		err      string
	}{
		{"503 then ok", []reply{{503, nil, "busy"}, {200, nil, "ok"}}, 2, []time.Duration{time.Second}, ""},
		{"429 with Retry-After", []reply{{429, map[string]string{"Retry-After": "3"}, "slow down"}, {200, nil, "ok"}}, 2, []time.Duration{3 * time.Second}, ""},
		{"Retry-After beyond the bound", []reply{{429, map[string]string{"Retry-After": "60"}, "rate_limited"}}, 1, nil,
			"slack: POST http://127.0.0.1:PORT/…: HTTP 429: rate_limited: asked to retry after 1m0s, longer than the 10s bound: not retried"},
		{"500 twice", []reply{{500, nil, "oops"}}, 2, []time.Duration{time.Second}, "slack: POST http://127.0.0.1:PORT/…: HTTP 500: oops (after one retry)"},
		{"404 is not retried", []reply{{404, nil, "no_service"}}, 1, nil, "slack: POST http://127.0.0.1:PORT/…: HTTP 404: no_service"},
		{"200 but not ok", []reply{{200, nil, "invalid_payload"}}, 1, nil, "slack: POST http://127.0.0.1:PORT/…: unexpected answer: invalid_payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newStandIn(t, tc.replies...)
			var waits []time.Duration
			s, err := notify.NewSlack(srv.URL+"/services/"+slackKey, notify.WithSleep(func(_ context.Context, d time.Duration) error {
				waits = append(waits, d)
				return nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Notify(context.Background(), rolledBack())
			want := strings.ReplaceAll(tc.err, "127.0.0.1:PORT", strings.TrimPrefix(srv.URL, "http://"))
			if (err == nil && want != "") || (err != nil && err.Error() != want) {
				t.Errorf("error %v\nwant  %s", err, want)
			}
			if n := len(srv.got()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if !equal(waits, tc.waits) {
				t.Errorf("waited %v, want %v", waits, tc.waits)
			}
		})
	}
}

func equal(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Telegram's 429 says how long to wait in its body.
func TestTelegramRetryAfterInBody(t *testing.T) {
	srv := newStandIn(t, reply{429, nil, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 2","parameters":{"retry_after":2}}`},
		reply{200, nil, `{"ok":true}`})
	var waits []time.Duration
	tg, err := notify.NewTelegram(botToken, "@deploys", notify.WithTelegramAPI(srv.URL), notify.WithSleep(func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Notify(context.Background(), rolledBack()); err != nil {
		t.Fatal(err)
	}
	if !equal(waits, []time.Duration{2 * time.Second}) || len(srv.got()) != 2 {
		t.Errorf("waited %v over %d requests, want 2s over 2", waits, len(srv.got()))
	}
}

// No error carries a credential, whatever fails: Go's *url.Error quotes
// the whole URL, and a service may echo the token back.
func TestErrorsHideCredentials(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		io.WriteString(w, `{"ok":false,"description":"Unauthorized: `+r.URL.String()+`"}`)
	}
	echoing := httptest.NewServer(http.HandlerFunc(echo))
	defer echoing.Close()
	stop := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hanging.Close()
	defer close(stop)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	secrets := []string{slackKey, botToken, "AAE-secret_bot-token-XYZ", "webhook-query-token", "secret-slack-hook-key", "basic-auth-password"}
	for _, base := range []struct{ name, url, want string }{
		{"echoing", echoing.URL, "HTTP 401"},
		{"hanging", hanging.URL, "no answer within 200ms: context deadline exceeded"},
		{"refused", closed.URL, "connection refused"},
	} {
		slack, err := notify.NewSlack(base.url+"/services/"+slackKey, notify.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		tg, err := notify.NewTelegram(botToken, "1", notify.WithTelegramAPI(base.url), notify.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		hookURL := strings.Replace(base.url, "http://", "http://user:basic-auth-password@", 1) + "/h?token=webhook-query-token"
		hook, err := notify.NewWebhook(hookURL, notify.WithTimeout(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []notify.Notifier{slack, tg, hook} {
			err := n.Notify(context.Background(), rolledBack())
			if err == nil {
				t.Fatalf("%s %T: no error", base.name, n)
			}
			msg := err.Error()
			t.Logf("%s: %s", base.name, msg)
			if !strings.Contains(msg, base.want) || !strings.Contains(msg, strings.TrimPrefix(base.url, "http://")) {
				t.Errorf("%s %T: %q does not say %q and name the host", base.name, n, msg, base.want)
			}
			for _, s := range secrets {
				if strings.Contains(msg, s) {
					t.Errorf("%s %T: the error contains the credential %q: %s", base.name, n, s, msg)
				}
			}
			var nerr *notify.Error
			if !errors.As(err, &nerr) {
				t.Errorf("%s %T: %T is not a *notify.Error", base.name, n, err)
			}
			if base.name == "hanging" && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s %T: not a deadline: %v", base.name, n, err)
			}
		}
	}
}

// Construction checks the credentials' form, and its messages never quote
// them.
func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  notify.Config
		err  string
	}{
		{"nothing", notify.Config{}, ""},
		{"slack not a URL", notify.Config{SlackWebhook: "hooks.slack.com/services/" + slackKey}, "slack: the webhook URL is not an http(s):// URL with a host"},
		{"slack bad scheme", notify.Config{SlackWebhook: "ftp://hooks.slack.com/services/" + slackKey}, "slack: the webhook URL is not an http(s):// URL with a host"},
		{"slack unparsable", notify.Config{SlackWebhook: "https://hooks slack.com/%zz" + slackKey}, "slack: the webhook URL is not an http(s):// URL with a host"},
		{"telegram without chat", notify.Config{TelegramToken: botToken}, "telegram: no chat ID: name the chat (-1001234567890 or @channel)"},
		{"telegram chat without token", notify.Config{TelegramChat: "-100"}, "telegram: a chat ID but no bot token"},
		{"telegram token malformed", notify.Config{TelegramToken: "bot " + botToken, TelegramChat: "1"}, "telegram: the bot token is not of the form 123456:ABC-DEF (as BotFather gives it)"},
		{"webhook key without URL", notify.Config{WebhookKey: "k"}, "webhook: a signing key but no webhook URL"},
		{"webhook relative", notify.Config{WebhookURL: "/hooks?token=webhook-query-token"}, "webhook: the webhook URL is not an http(s):// URL with a host"},
		{"all three", notify.Config{SlackWebhook: "https://hooks.slack.com/services/x", TelegramToken: botToken, TelegramChat: "1", WebhookURL: "https://example.com/h", WebhookKey: "k"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.cfg.Notifiers()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Fatalf("error %v\nwant  %s", err, tc.err)
			case tc.err == "" && len(m) != len(tc.cfg.Services()):
				t.Fatalf("%d notifiers for %v", len(m), tc.cfg.Services())
			}
		})
	}
	if _, err := notify.NewSlack(""); err == nil || err.Error() != "slack: the webhook URL is empty" {
		t.Errorf("empty Slack URL: %v", err)
	}
	if _, err := notify.NewTelegram("", "1"); err == nil || err.Error() != "telegram: the bot token is empty" {
		t.Errorf("empty token: %v", err)
	}
}

// Multi sends to every notifier, and its error names each that failed.
func TestMulti(t *testing.T) {
	ok := newStandIn(t, reply{200, nil, "ok"})
	down := newStandIn(t, reply{404, nil, "no_service"})
	okHook, _ := notify.NewWebhook(ok.URL + "/a")
	downSlack, _ := notify.NewSlack(down.URL + "/services/" + slackKey)
	err := notify.Multi{okHook, downSlack}.Notify(context.Background(), rolledBack())
	want := "slack: POST " + down.URL + "/…: HTTP 404: no_service"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	if len(ok.got()) != 1 || len(down.got()) != 1 {
		t.Errorf("requests: %d and %d, want one each", len(ok.got()), len(down.got()))
	}
}

// A long reason is cut, so a rollout that names many pods still fits
// Telegram's 4096 characters.
func TestLongReasonIsCut(t *testing.T) {
	e := rolledBack()
	e.Reason = strings.Repeat("pod я (CrashLoopBackOff); ", 500)
	text := notify.TelegramText(e)
	if len(text) > 4096 || !strings.Contains(text, "…") {
		t.Errorf("text of %d bytes", len(text))
	}
}
