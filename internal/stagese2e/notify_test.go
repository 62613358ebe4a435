package stagese2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway-ci/slipway/deploy/notify"
	"github.com/slipway-ci/slipway/internal/clustertest"
	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/internal/hostport"
	"github.com/slipway-ci/slipway/internal/secretscan"
)

// The variables the notification secrets are passed in, as CI passes
// them (env://).
const (
	slackEnv    = "SLIPWAY_E2E_SLACK_WEBHOOK_URL"
	telegramEnv = "SLIPWAY_E2E_TELEGRAM_BOT_TOKEN"
	webhookEnv  = "SLIPWAY_E2E_NOTIFY_WEBHOOK_URL"
)

// apiRequest is one request the stand-in services received.
type apiRequest struct {
	Path, Query, ContentType, Body string
}

// standInAPIs stands in for Slack's incoming webhooks, Telegram's Bot API
// and a team's webhook receiver, answering each as the real one does.
type standInAPIs struct {
	mu   sync.Mutex
	reqs []apiRequest
}

func (s *standInAPIs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.reqs = append(s.reqs, apiRequest{r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
	s.mu.Unlock()
	switch {
	case r.Method != http.MethodPost:
		w.WriteHeader(http.StatusMethodNotAllowed)
	case strings.HasPrefix(r.URL.Path, "/services/"):
		io.WriteString(w, "ok")
	case strings.HasPrefix(r.URL.Path, "/bot"):
		io.WriteString(w, `{"ok":true,"result":{"message_id":1}}`)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// take returns and forgets the requests so far.
func (s *standInAPIs) take() []apiRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// TestNotifications drives deploy-staging and deploy-production through
// `dagger call` with Slack, Telegram and webhook notifications, whose APIs
// are stand-ins in this process on a socket in the engine's network
// namespace (the deploy tool's container reaches them at 10.87.0.1:PORT).
// A deploy to staging sends each service exactly the request that
// deploy/notify builds for "deployed"; an image that crashes on the real
// node is rolled back and sends "rolled back" with the failing pod and the
// image now serving; a production deploy the gate refuses sends "refused"
// with the failed checks. The three credentials
// (a Slack webhook key, a bot token, a webhook token), passed as env://
// secrets, are in none of dagger's output.
func TestNotifications(t *testing.T) {
	e := enginetest.Require(t)
	// The real node: the rollback below needs a container that really
	// crashes.
	c := clustertest.RequireNode(t)
	ns, err := engine.Namespace(e.Env)
	if err != nil {
		e2e.Unavailable(t, fmt.Errorf("the engine's network namespace, where the stand-in APIs must listen: %w", err))
	}
	defer ns.Close()
	l, err := hostport.ListenIn(ns, "tcp", "0.0.0.0:0")
	if err != nil {
		e2e.Unavailable(t, err)
	}
	apis := &standInAPIs{}
	srv := &http.Server{Handler: apis, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	base := fmt.Sprintf("http://%s:%d", engine.BridgeIP, l.Addr().(*net.TCPAddr).Port)

	slackKey := "T0E2E/B0E2E/" + randomHex(12)
	botToken := "4242:" + randomHex(16)
	hookToken := randomHex(16)
	t.Setenv(slackEnv, base+"/services/"+slackKey)
	t.Setenv(telegramEnv, botToken)
	t.Setenv(webhookEnv, base+"/hook?token="+hookToken)
	scan, err := secretscan.New(slackKey, botToken, hookToken)
	if err != nil {
		t.Fatal(err)
	}

	staging := c.Namespace(t, "notify-staging")
	production := c.Namespace(t, "notify-production")
	t.Setenv("KUBECONFIG_STAGING", string(c.EngineKubeconfig))
	t.Setenv("KUBECONFIG_PRODUCTION", string(c.EngineKubeconfig))
	ref := strings.TrimSpace(mustCall(t, "publish", "--repository="+daggertest.Registry+"/slipway-e2e/notify", "--insecure", "--revision=notify-e2e-"+randomHex(4)))
	if !strings.Contains(ref, "@sha256:") {
		t.Fatalf("publish returned %q, want repository@sha256:digest", ref)
	}
	const link = "https://gitlab.example.com/team/mts-deploy-ai/-/pipelines/42"
	// Telegram through the builder, Slack and the webhook through the
	// deploy function's arguments, as a generated CI job passes them.
	settings := []string{
		"--staging-manifests=examples/deployai/deploy/k8s/local", "--production-manifests=examples/deployai/deploy/k8s/local",
		"with-telegram", "--token=env://" + telegramEnv, "--chat-id=-1001234567890", "--api-url=" + base,
		"with-notify", "--pipeline=notify-e2e",
	}
	notifyArgs := []string{"--slack-webhook=env://" + slackEnv, "--notify-webhook=env://" + webhookEnv, "--notify-link=" + link}

	// check asserts the three requests: the webhook's event first (its
	// time is the deploy tool's clock), then Slack's and Telegram's bodies
	// exactly as deploy/notify renders that event.
	check := func(t *testing.T, reqs []apiRequest, env, image string, result notify.Result, reason func(string) bool) {
		t.Helper()
		byPath := map[string]apiRequest{}
		for _, r := range reqs {
			if _, dup := byPath[r.Path]; dup {
				t.Errorf("two requests to %s", r.Path)
			}
			byPath[r.Path] = r
		}
		slack, okS := byPath["/services/"+slackKey]
		tg, okT := byPath["/bot"+botToken+"/sendMessage"]
		hook, okH := byPath["/hook"]
		if len(reqs) != 3 || !okS || !okT || !okH {
			t.Fatalf("the stand-ins got %d requests, want one each to Slack, Telegram and the webhook: %+v", len(reqs), reqs)
		}
		var ev notify.WebhookEvent
		if err := json.Unmarshal([]byte(hook.Body), &ev); err != nil {
			t.Fatalf("webhook body %q: %v", hook.Body, err)
		}
		at, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil || time.Since(at) > 15*time.Minute || time.Until(at) > time.Minute {
			t.Errorf("webhook time %q is not now", ev.Time)
		}
		if hook.Query != "token="+hookToken || hook.ContentType != "application/json" {
			t.Errorf("webhook request ?%s, Content-Type %q", hook.Query, hook.ContentType)
		}
		if !reason(ev.Reason) {
			t.Errorf("webhook reason %q", ev.Reason)
		}
		want := notify.Event{Environment: env, Image: image, Result: result, Reason: ev.Reason, Link: link, Pipeline: "notify-e2e", Time: at}
		wantHook := notify.WebhookEvent{Environment: env, Image: image, Digest: image[strings.Index(image, "@")+1:], Result: result,
			Reason: ev.Reason, Link: link, Pipeline: "notify-e2e", Time: ev.Time, Text: want.Text()}
		if ev != wantHook {
			t.Errorf("webhook event\n%+v\nwant\n%+v", ev, wantHook)
		}
		wantSlack, _ := notify.SlackMessage(want)
		if slack.Body != string(wantSlack) {
			t.Errorf("Slack body\n%s\nwant\n%s", slack.Body, wantSlack)
		}
		wantTG, _ := json.Marshal(map[string]any{"chat_id": "-1001234567890", "text": notify.TelegramText(want), "parse_mode": "HTML",
			"link_preview_options": map[string]bool{"is_disabled": true}})
		if !sameJSON(tg.Body, string(wantTG)) {
			t.Errorf("Telegram body\n%s\nwant\n%s", tg.Body, wantTG)
		}
	}
	noLeak := func(t *testing.T, outs ...string) {
		t.Helper()
		for i, out := range outs {
			f, err := scan.Bytes(fmt.Sprintf("dagger output %d", i), []byte(out))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Err(); err != nil {
				t.Errorf("a notification secret leaked: %v", err)
			}
		}
	}

	t.Run("a bot token without a chat is refused before the deploy", func(t *testing.T) {
		apis.take()
		stdout, stderr, err := daggerCall(t, "with-telegram", "--token=env://"+telegramEnv, "--chat-id=",
			"deploy-staging", "--image="+ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace="+staging)
		noLeak(t, stdout, stderr)
		const want = "deploy-staging: notifications: a Telegram bot token but no chat: pass --telegram-chat-id (or with-telegram --chat-id)"
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("dagger call = %v, want the refusal %q:\n%s", err, want, tail(stderr))
		}
		if reqs := apis.take(); len(reqs) > 0 {
			t.Errorf("the stand-ins got %d requests", len(reqs))
		}
	})

	t.Run("staging deployed", func(t *testing.T) {
		apis.take()
		args := append(append(append([]string{}, settings...), "deploy-staging", "--image="+ref, "--kubeconfig=env://KUBECONFIG_STAGING", "--namespace="+staging), notifyArgs...)
		stdout, stderr, err := daggerCall(t, args...)
		noLeak(t, stdout, stderr)
		if err != nil {
			t.Fatalf("deploy-staging: %v\n%s", err, tail(stderr))
		}
		if line := strings.TrimSpace(stdout); !strings.Contains(line, "evidence recorded") || !strings.HasSuffix(line, "; notified slack, telegram, webhook") {
			t.Errorf("deploy-staging's line does not say whom it notified: %s", stdout)
		}
		check(t, apis.take(), "staging", ref, notify.Deployed, func(r string) bool { return r == "" })
		assertRunning(t, c, staging, ref)
	})

	t.Run("staging rolled back", func(t *testing.T) {
		// A binary that exits at start, on the real node: a real
		// CrashLoopBackOff until the rollout's timeout, then the rollback
		// to the image "staging deployed" left; the team hears "rolled
		// back", with the failing pod and the image now serving.
		crash := clustertest.PushApp(t, clustertest.AppCrash)
		apis.take()
		args := append(append(append([]string{}, settings...), "deploy-staging", "--image="+crash, "--kubeconfig=env://KUBECONFIG_STAGING",
			"--namespace="+staging, "--timeout=45s"), notifyArgs...)
		stdout, stderr, err := daggerCall(t, args...)
		noLeak(t, stdout, stderr)
		if err == nil {
			t.Fatalf("deploy-staging of an image that crashes succeeded: %s", stdout)
		}
		check(t, apis.take(), "staging", crash, notify.RolledBack, func(r string) bool {
			// The reason is the deploy's error chain: its context
			// (function, environment, Deployment) comes first.
			return strings.Contains(r, "Deployment "+staging+"/mts-deploy-ai: rollout of "+crash+" failed: ") &&
				crashed.MatchString(r) &&
				strings.Contains(r, "rolled back to the previous revision ("+ref+"), which is healthy")
		})
		assertRunning(t, c, staging, ref)
	})

	t.Run("production refused", func(t *testing.T) {
		apis.take()
		args := append(append(append([]string{}, settings...), "deploy-production", "--image="+ref, "--kubeconfig=env://KUBECONFIG_PRODUCTION", "--namespace="+production), notifyArgs...)
		stdout, stderr, err := daggerCall(t, args...)
		noLeak(t, stdout, stderr)
		if err == nil {
			t.Fatalf("deploy-production without approval succeeded: %s", stdout)
		}
		check(t, apis.take(), "production", ref, notify.Refused, func(r string) bool {
			// No key is trusted here, so production refuses before its gate
			// reads any evidence (issue 13), and says what to trust.
			return strings.Contains(r, "no key is trusted") && strings.Contains(r, "SLIPWAY_TRUSTED_KEYS")
		})
		assertNoDeployment(t, c, production)
	})
}

// crashed matches a failing pod's reason for a binary that exits at start:
// the kubelet's back-off, or the exit itself when the rollout's timeout
// falls between two restarts.
var crashed = regexp.MustCompile(`failing pods: \S+ \(container \S+: (CrashLoopBackOff|terminated Error \(exit code [1-9])`)

// sameJSON compares two JSON documents by value (Telegram's body: the
// text escaping of encoding/json and of the tool's encoder may differ).
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// TestCiNotifies: the whole-pipeline ci function, with a webhook set by
// with-webhook (signed by with-webhook's key), posts its verdict: "ci",
// passed, the published digest, signed; its summary says so, and neither
// the URL's token nor the key is in dagger's output.
func TestCiNotifies(t *testing.T) {
	e := enginetest.Require(t)
	ns, err := engine.Namespace(e.Env)
	if err != nil {
		e2e.Unavailable(t, fmt.Errorf("the engine's network namespace, where the stand-in webhook must listen: %w", err))
	}
	defer ns.Close()
	l, err := hostport.ListenIn(ns, "tcp", "0.0.0.0:0")
	if err != nil {
		e2e.Unavailable(t, err)
	}
	var (
		mu   sync.Mutex
		reqs []*http.Request
		body []string
	)
	srv := &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs, body = append(reqs, r), append(body, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(l)
	defer srv.Close()
	hookToken, key := randomHex(16), randomHex(16)
	t.Setenv(webhookEnv, fmt.Sprintf("http://%s:%d/ci-hook?token=%s", engine.BridgeIP, l.Addr().(*net.TCPAddr).Port, hookToken))
	t.Setenv("SLIPWAY_E2E_NOTIFY_KEY", key)
	scan, err := secretscan.New(hookToken, key)
	if err != nil {
		t.Fatal(err)
	}

	stdout, stderr, err := daggerCall(t, "with-webhook", "--url=env://"+webhookEnv, "--signing-key=env://SLIPWAY_E2E_NOTIFY_KEY",
		"with-notify", "--pipeline=ci-notify-e2e", "ci", "--revision=ci-notify-"+randomHex(4),
		"--db-repository="+daggertest.Registry+"/aquasecurity/trivy-db:2", "--db-insecure", "summary")
	for i, out := range []string{stdout, stderr} {
		f, serr := scan.Bytes(fmt.Sprintf("dagger output %d", i), []byte(out))
		if serr != nil {
			t.Fatal(serr)
		}
		if serr := f.Err(); serr != nil {
			t.Errorf("a notification secret leaked: %v", serr)
		}
	}
	if err != nil {
		t.Fatalf("ci: %v\n%s", err, tail(stderr))
	}
	if !strings.Contains(stdout, "notified webhook") {
		t.Errorf("ci's summary does not say it notified:\n%s", stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 1 {
		t.Fatalf("the webhook got %d requests, want 1", len(reqs))
	}
	var ev notify.WebhookEvent
	if err := json.Unmarshal([]byte(body[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Environment != "ci" || ev.Result != notify.Passed || ev.Pipeline != "ci-notify-e2e" || !strings.HasPrefix(ev.Digest, "sha256:") ||
		!strings.Contains(stdout, ev.Image) || reqs[0].URL.Path != "/ci-hook" || reqs[0].URL.RawQuery != "token="+hookToken {
		t.Errorf("webhook %s?%s got %+v; want ci passed with the published digest", reqs[0].URL.Path, reqs[0].URL.RawQuery, ev)
	}
	if got, want := reqs[0].Header.Get(notify.SignatureHeader), notify.Sign([]byte(key), []byte(body[0])); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
}
