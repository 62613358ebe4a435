package stagese2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipway-ci/slipway/internal/daggertest"
	"github.com/slipway-ci/slipway/internal/e2e"
	"github.com/slipway-ci/slipway/internal/engine"
	"github.com/slipway-ci/slipway/internal/enginetest"
	"github.com/slipway-ci/slipway/internal/hostport"
	"github.com/slipway-ci/slipway/internal/registrytest"
)

// passwordEnv is where the publish calls below take the password from, as
// CI passes REGISTRY_PASSWORD.
const passwordEnv = "SLIPWAY_E2E_REGISTRY_PASSWORD"

// TestPublishWrongPassword is the planted fault "a wrong registry
// password" through the real engine: `dagger call publish` to a registry
// that requires a password. With a wrong one the call fails, says the
// registry refused the credentials and what to check, never prints the
// password, and the registry holds nothing: no upload, manifest or tag got
// through. With the right one it prints repository@sha256:digest, and the
// registry serves that manifest.
//
// The registry runs in this test process (internal/registrytest), on a
// socket in the engine's network namespace (hostport.ListenIn): the
// engine's containers reach it at 10.87.0.1:PORT, and this process, through
// the namespace, at 127.0.0.1:PORT.
func TestPublishWrongPassword(t *testing.T) {
	e := enginetest.Require(t)
	ns, err := engine.Namespace(e.Env)
	if err != nil {
		e2e.Unavailable(t, fmt.Errorf("the engine's network namespace, where the registry must listen: %w", err))
	}
	defer ns.Close()
	l, err := hostport.ListenIn(ns, "tcp", "0.0.0.0:0")
	if err != nil {
		e2e.Unavailable(t, err)
	}
	password := registrytest.RandomPassword()
	reg := registrytest.New("slipway", password)
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(l)
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port

	repository := fmt.Sprintf("%s:%d/team/app", engine.BridgeIP, port)
	// This process's view of the same repository, through the namespace.
	local, err := name.NewRepository(fmt.Sprintf("127.0.0.1:%d/team/app", port), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = hostport.DialerIn(ns)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	right := remote.WithAuth(&authn.Basic{Username: "slipway", Password: password})
	on := []remote.Option{remote.WithTransport(tr), remote.WithContext(ctx)}

	publish := []string{"publish", "--repository=" + repository,
		"--username=slipway", "--password=env://" + passwordEnv, "--insecure"}

	t.Run("signing key variable unset", func(t *testing.T) {
		// The CI variable the shim names is not set in this job: the
		// call says which argument and how to fix it, before any build
		// or request to the registry.
		t.Setenv(passwordEnv, password)
		os.Unsetenv("SLIPWAY_E2E_UNSET_SIGNING_KEY")
		before := len(reg.Requests())
		_, stderr, err := daggerCall(t, append(publish, "--signing-key=env://SLIPWAY_E2E_UNSET_SIGNING_KEY")...)
		if err == nil {
			t.Fatal("publish with an unset signing key variable succeeded")
		}
		msg := publishError(stderr)
		t.Logf("the error: %s", msg)
		for _, want := range []string{"publish: --signing-key cannot be read", "env://NAME needs NAME set", "drop --signing-key to publish unsigned"} {
			if !strings.Contains(msg, want) {
				t.Errorf("the error does not say %q:\n%s", want, msg)
			}
		}
		if after := len(reg.Requests()); after != before {
			t.Errorf("the registry got %d requests from a call refused for its arguments", after-before)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		wrong := registrytest.RandomPassword()
		t.Setenv(passwordEnv, wrong)
		start := time.Now()
		stdout, stderr, err := daggerCall(t, publish...)
		t.Logf("dagger call publish with a wrong password: %v", time.Since(start).Round(time.Millisecond))
		if err == nil {
			t.Fatalf("publish with a wrong password succeeded: %s", stdout)
		}
		msg := publishError(stderr)
		t.Logf("the error: %s", msg)
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?i)unauthori[sz]ed|authentication`),
			regexp.MustCompile(regexp.QuoteMeta(fmt.Sprintf("%s:%d", engine.BridgeIP, port))),
			regexp.MustCompile(`(?i)check .*(password|token)`),
			regexp.MustCompile(`(?i)nothing was pushed`),
		} {
			if !want.MatchString(msg) {
				t.Errorf("the error does not match %s:\n%s", want, msg)
			}
		}
		for _, out := range []string{stdout, stderr} {
			if strings.Contains(out, wrong) || strings.Contains(out, password) {
				t.Errorf("dagger's output contains a password:\n%s", out)
			}
		}

		// The registry was reached, as "slipway", and refused every request:
		// the call failed on the credentials, not on the network.
		reqs := reg.Requests()
		refused := 0
		for _, r := range reqs {
			if r.User == "slipway" && !r.Authorized {
				refused++
			}
		}
		if refused == 0 {
			t.Errorf("the registry refused no request as user slipway: %v", reqs)
		}
		if w := reg.Writes(); len(w) > 0 {
			t.Errorf("writes got through with a wrong password: %v", w)
		}
		t.Logf("the registry received %d requests, refused %d as slipway, %d writes got through", len(reqs), refused, len(reg.Writes()))
		if tags := tagsOf(t, local, append(on, right)...); len(tags) > 0 {
			t.Errorf("%s has tags %v after a refused push", local, tags)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("right password", func(t *testing.T) {
		t.Setenv(passwordEnv, password)
		start := time.Now()
		stdout, stderr, err := daggerCall(t, publish...)
		t.Logf("dagger call publish with the right password: %v", time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("publish with the right password: %v\n%s", err, tail(stderr))
		}
		if strings.Contains(stdout+stderr, password) {
			t.Errorf("dagger's output contains the password")
		}
		ref := strings.TrimSpace(stdout)
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(repository) + `@sha256:[0-9a-f]{64}$`).MatchString(ref) {
			t.Fatalf("publish printed %q, want %s@sha256:<digest>", ref, repository)
		}
		digest := local.Digest(ref[strings.Index(ref, "@")+1:])

		// Without credentials the registry refuses, with them it serves
		// the manifest under the digest publish printed.
		if _, err := remote.Get(digest, on...); !isStatus(err, http.StatusUnauthorized) {
			t.Errorf("GET %s without credentials: err = %v, want 401", digest, err)
		}
		desc, err := remote.Get(digest, append(on, right)...)
		if err != nil {
			t.Fatalf("GET %s: %v", digest, err)
		}
		if desc.Digest.String() != digest.DigestStr() {
			t.Errorf("the registry serves %s for %s", desc.Digest, digest)
		}
		tags := tagsOf(t, local, append(on, right)...)
		if len(tags) != 1 {
			t.Errorf("%s has tags %v, want the one publish pushed", local, tags)
		}
		t.Logf("pushed %s (tags %v); %d writes got through", ref, tags, len(reg.Writes()))
	})
}

// daggerCall runs `dagger -m ci call slipway` in the checkout, as call does, and returns
// all of stdout and stderr: the password must be in neither, not only in
// their tails.
func daggerCall(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	e := enginetest.Require(t)
	daggertest.ModDownload(t, repo, filepath.Join(repo, "dagger"))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := e.Command(ctx, repo, append([]string{"--progress=plain", "-m", "ci", "call", "slipway"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// publishError returns the lines of dagger's output that carry the
// function's error, as a person reads them at the end of a failed job.
func publishError(stderr string) string {
	var lines []string
	for _, line := range strings.Split(ansi.ReplaceAllString(stderr, ""), "\n") {
		if strings.Contains(line, "publish:") || strings.Contains(line, "Error:") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	if len(lines) == 0 {
		return tail(stderr)
	}
	return strings.Join(lines, "\n")
}

// ansi matches the colour codes of dagger's plain progress.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// tagsOf lists repo's tags; a repository the registry does not know has
// none.
func tagsOf(t *testing.T, repo name.Repository, opts ...remote.Option) []string {
	t.Helper()
	tags, err := remote.List(repo, opts...)
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("listing the tags of %s: %v", repo, err)
	}
	return tags
}

func isStatus(err error, code int) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == code
}
