package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/slipway-ci/slipway/deploy"
	"github.com/slipway-ci/slipway/deploy/notify"
)

const (
	testBotToken = "987654:tg-secret-token_ABC"
	testSlackKey = "T1/B2/slack-secret-key"
	testHookKey  = "hook-secret-token"
)

// services stands in for Slack, Telegram and a webhook receiver on one
// server, recording each request by path; status is what it answers.
type services struct {
	*httptest.Server
	mu     sync.Mutex
	got    map[string][]string
	status int
}

func newServices(t *testing.T, status int) *services {
	t.Helper()
	s := &services{got: map[string][]string{}, status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.got[r.URL.Path] = append(s.got[r.URL.Path], string(b))
		s.mu.Unlock()
		w.WriteHeader(s.status)
		switch {
		case s.status != 200:
			fmt.Fprintf(w, "denied for %s", r.URL) // echoes the credentials back
		case strings.HasPrefix(r.URL.Path, "/bot"):
			io.WriteString(w, `{"ok":true}`)
		case strings.HasPrefix(r.URL.Path, "/services/"):
			io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *services) env(extra map[string]string) func(string) string {
	env := map[string]string{
		envSlackWebhook:  s.URL + "/services/" + testSlackKey,
		envTelegramToken: testBotToken,
		envTelegramChat:  "-100200300",
		envWebhookURL:    s.URL + "/hook?token=" + testHookKey,
		envPipelineURL:   "https://ci.example.com/pipelines/7",
		envTelegramAPI:   s.URL,
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// requests returns the bodies each service got, failing unless each got
// exactly one.
func (s *services) requests(t *testing.T) (slack, telegram string, hook notify.WebhookEvent) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	one := func(path string) string {
		if len(s.got[path]) != 1 {
			t.Fatalf("%s got %d requests, want 1 (all: %v)", path, len(s.got[path]), s.got)
		}
		return s.got[path][0]
	}
	slack, telegram = one("/services/"+testSlackKey), one("/bot"+testBotToken+"/sendMessage")
	if err := json.Unmarshal([]byte(one("/hook")), &hook); err != nil {
		t.Fatal(err)
	}
	return slack, telegram, hook
}

func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, s := range []string{testBotToken, testSlackKey, testHookKey, "tg-secret-token_ABC", "slack-secret-key"} {
			if strings.Contains(text, s) {
				t.Errorf("output contains the credential %q:\n%s", s, text)
			}
		}
	}
}

// A production deploy the gate refuses tells every service, with the
// checks that failed; the command's error is still the refusal.
func TestDeployNotifiesRefusal(t *testing.T) {
	image := pushRandom(t)
	srv := newServices(t, 200)
	dir := manifests(t, map[string]string{"web.yaml": webDeployment})
	out, err := run(context.Background(), []string{"production", "--image=" + image, "--manifests=" + dir, "--namespace=web",
		"--container=web", "--kubeconfig=" + kubeconfig(t), "--notify-pipeline=billing", "--source-repository=" + testRepository}, srv.env(signingKeys(t)))
	if err == nil || !strings.Contains(err.Error(), "not approved") || strings.Contains(err.Error(), "notification") {
		t.Fatalf("run = %q, %v; want the gate's refusal alone", out, err)
	}
	var gerr *deploy.GateError
	if !errors.As(err, &gerr) {
		t.Errorf("%T is not a *deploy.GateError", err)
	}
	slack, telegram, hook := srv.requests(t)
	digest := image[strings.Index(image, "@")+1:]
	want := notify.WebhookEvent{Environment: "production", Image: image, Digest: digest, Result: notify.Refused,
		Reason: strings.Join(gerr.Failed, "; "), Link: "https://ci.example.com/pipelines/7", Pipeline: "billing"}
	hook.Time, hook.Text = "", ""
	if hook != want {
		t.Errorf("webhook event %+v\nwant %+v", hook, want)
	}
	for _, w := range []string{"⛔ billing · production: refused", digest, "not deployed and verified in staging", "https://ci.example.com/pipelines/7"} {
		if !strings.Contains(slack, w) || !strings.Contains(telegram, w) {
			t.Errorf("Slack or Telegram message lacks %q:\n%s\n%s", w, slack, telegram)
		}
	}
	if !strings.Contains(telegram, `"chat_id":"-100200300"`) {
		t.Errorf("Telegram message to the wrong chat: %s", telegram)
	}
}

// What the deploy's outcome and the notification's make of the command's
// line and error.
func TestNotifyAfter(t *testing.T) {
	rollout := &deploy.RolloutError{Cause: errors.New("CrashLoopBackOff"), Image: "r@sha256:1", RolledBack: true, PreviousImage: "r@sha256:0"}
	failed := &deploy.RolloutError{Cause: errors.New("ImagePullBackOff"), Image: "r@sha256:1"}
	for _, tc := range []struct {
		name      string
		deployErr error
		status    int
		required  bool
		line, err string
		result    notify.Result
	}{
		{"deployed", nil, 200, false, "staging: ok; notified slack, telegram, webhook", "", notify.Deployed},
		{"rolled back", rollout, 200, false, "", rollout.Error(), notify.RolledBack},
		{"failed without rollback", failed, 200, false, "", failed.Error(), notify.Failed},
		{"deployed, notification fails", nil, 500, false,
			"staging: ok; WARNING: notification failed: slack: POST http://HOST/…: HTTP 500: denied for … (after one retry); " +
				"telegram: POST http://HOST/bot…/sendMessage: HTTP 500: denied for /bot…/sendMessage (after one retry); " +
				"webhook: POST http://HOST/…: HTTP 500: denied for /hook?… (after one retry)", "", ""},
		{"deployed, required notification fails", nil, 403, true, "",
			"deploy-staging: staging: ok, but the notification failed (--notify-required): slack: POST http://HOST/…: HTTP 403: denied for …; " +
				"telegram: POST http://HOST/bot…/sendMessage: HTTP 403: denied for /bot…/sendMessage; webhook: POST http://HOST/…: HTTP 403: denied for /hook?…", ""},
		{"rolled back, notification fails", rollout, 403, false, "",
			rollout.Error() + "; the notification failed too: slack: POST http://HOST/…: HTTP 403: denied for …; " +
				"telegram: POST http://HOST/bot…/sendMessage: HTTP 403: denied for /bot…/sendMessage; webhook: POST http://HOST/…: HTTP 403: denied for /hook?…", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServices(t, tc.status)
			host := strings.TrimPrefix(srv.URL, "http://")
			n := notifyFlags{required: tc.required, timeout: "5s"}
			m, services, err := n.notifiers("deploy-staging", srv.env(nil))
			if err != nil {
				t.Fatal(err)
			}
			line := ""
			if tc.deployErr == nil {
				line = "staging: ok"
			}
			var warn bytes.Buffer
			got, err := notifyAfter(context.Background(), "deploy-staging", m, services, n,
				notify.Event{Environment: "staging", Image: "r@sha256:1"}, line, tc.deployErr, srv.env(nil), &warn)
			wantLine := strings.ReplaceAll(tc.line, "HOST", host)
			wantErr := strings.ReplaceAll(tc.err, "HOST", host)
			if got != wantLine {
				t.Errorf("line %q\nwant %q", got, wantLine)
			}
			if (err == nil) != (wantErr == "") || err != nil && err.Error() != wantErr {
				t.Errorf("error %v\nwant  %s", err, wantErr)
			}
			if tc.deployErr != nil && !errors.Is(err, tc.deployErr) {
				t.Errorf("the deploy's error is not wrapped: %v", err)
			}
			if (warn.Len() > 0) != (tc.status != 200 && !tc.required && tc.deployErr == nil) {
				t.Errorf("warning %q", warn.String())
			}
			noSecrets(t, got, fmt.Sprint(err), warn.String())
			if tc.result != "" {
				_, _, hook := srv.requests(t)
				if hook.Result != tc.result || hook.Link != "https://ci.example.com/pipelines/7" {
					t.Errorf("webhook result %q, link %q; want %q", hook.Result, hook.Link, tc.result)
				}
			}
		})
	}
}

// Bad notification settings are usage errors, found before the deploy.
func TestNotifySettingsRefused(t *testing.T) {
	image := pushRandom(t)
	dir := manifests(t, map[string]string{"web.yaml": webDeployment})
	args := func(extra ...string) []string {
		return append([]string{"staging", "--image=" + image, "--manifests=" + dir, "--namespace=web", "--container=web", "--kubeconfig=" + kubeconfig(t)}, extra...)
	}
	const known = " (notifications come from SLACK_WEBHOOK_URL, TELEGRAM_BOT_TOKEN with --telegram-chat-id, and NOTIFY_WEBHOOK_URL with NOTIFY_WEBHOOK_SECRET): usage"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"token without chat", args(), map[string]string{envTelegramToken: testBotToken},
			"deploy-staging: telegram: no chat ID: name the chat (-1001234567890 or @channel)" + known},
		{"chat without token", args("--telegram-chat-id=-1"), nil, "deploy-staging: telegram: a chat ID but no bot token" + known},
		{"Slack URL not a URL", args(), map[string]string{envSlackWebhook: "hooks.slack.com/services/" + testSlackKey},
			"deploy-staging: slack: the webhook URL is not an http(s):// URL with a host" + known},
		{"secret without webhook", args(), map[string]string{envWebhookSecret: "k"}, "deploy-staging: webhook: a signing key but no webhook URL" + known},
		{"required, none configured", args("--notify-required"), nil,
			"deploy-staging: --notify-required, but no notification is configured: set SLACK_WEBHOOK_URL, TELEGRAM_BOT_TOKEN (with a chat) or NOTIFY_WEBHOOK_URL: usage"},
		{"bad timeout", args("--notify-timeout=soon"), nil, `deploy-staging: --notify-timeout="soon" is not a positive Go duration such as 10s: usage`},
		{"notify without result", []string{"notify", "--environment=ci"}, nil, `notify: --result="": want passed, failed, deployed, rolled-back or refused: usage`},
		{"notify without environment", []string{"notify", "--result=passed"}, nil, "notify: no --environment: name the environment, or ci for a pipeline: usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(context.Background(), tc.args, func(k string) string { return tc.env[k] })
			if err == nil || err.Error() != tc.want || !errors.Is(err, errUsage) {
				t.Errorf("run = %q, %v\nwant the usage error %s", out, err, tc.want)
			}
		})
	}
}

// The notify subcommand sends a pipeline's verdict.
func TestNotifySubcommand(t *testing.T) {
	srv := newServices(t, 200)
	out, err := run(context.Background(), []string{"notify", "--environment=ci", "--result=failed", "--image=r@sha256:1",
		"--reason=test-unit failed", "--notify-pipeline=billing", "--notify-link=https://ci.example.com/p/8"}, srv.env(nil))
	if err != nil || out != "notified slack, telegram, webhook" {
		t.Fatalf("run = %q, %v", out, err)
	}
	_, telegram, hook := srv.requests(t)
	if hook.Environment != "ci" || hook.Result != notify.Failed || hook.Digest != "sha256:1" || hook.Reason != "test-unit failed" || hook.Link != "https://ci.example.com/p/8" {
		t.Errorf("webhook event %+v", hook)
	}
	if !strings.Contains(telegram, "<b>❌ billing · ci: failed</b>") {
		t.Errorf("Telegram message %s", telegram)
	}
	out, err = run(context.Background(), []string{"notify", "--environment=ci", "--result=passed"}, noEnv)
	if err != nil || out != "no notification configured" {
		t.Errorf("without credentials: %q, %v", out, err)
	}
}
