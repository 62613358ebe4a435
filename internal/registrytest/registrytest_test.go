package registrytest_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/slipway-ci/slipway/internal/registrytest"
)

// A push with each kind of credentials: only the right ones write, the
// others are refused before any upload, and every request is recorded.
func TestPushNeedsThePassword(t *testing.T) {
	password := registrytest.RandomPassword()
	if password == registrytest.RandomPassword() || len(password) < 16 {
		t.Fatalf("RandomPassword repeats or is short: %q", password)
	}
	reg := registrytest.New("slipway", password)
	srv := httptest.NewServer(reg)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	for _, tc := range []struct {
		name       string
		auth       authn.Authenticator
		wantOK     bool
		wantUser   string
		wantWrites bool
	}{
		{"anonymous", authn.Anonymous, false, "", false},
		{"wrong password", &authn.Basic{Username: "slipway", Password: "not-" + password}, false, "slipway", false},
		{"wrong user", &authn.Basic{Username: "other", Password: password}, false, "other", false},
		{"right", &authn.Basic{Username: "slipway", Password: password}, true, "slipway", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(reg.Requests())
			img, err := random.Image(512, 2)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(host+"/team/"+strings.ReplaceAll(tc.name, " ", "-")+":v1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			err = remote.Write(ref, img, remote.WithAuth(tc.auth))
			if tc.wantOK != (err == nil) {
				t.Fatalf("push: err = %v, want success %v", err, tc.wantOK)
			}
			var terr *transport.Error
			if err != nil && (!errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized) {
				t.Errorf("push: err = %v, want a 401", err)
			}
			reqs := reg.Requests()[before:]
			if len(reqs) == 0 {
				t.Fatal("no request recorded")
			}
			var writes, refusedAsUser int
			for _, r := range reqs {
				if r.Authorized && r.Write() {
					writes++
				}
				if !r.Authorized && r.User == tc.wantUser {
					refusedAsUser++
				}
			}
			if tc.wantWrites != (writes > 0) {
				t.Errorf("%d writes got through, want writes %v: %v", writes, tc.wantWrites, reqs)
			}
			if !tc.wantOK && refusedAsUser == 0 {
				t.Errorf("no request as user %q was refused: %v", tc.wantUser, reqs)
			}
		})
	}

	// The challenge names the realm, and only the right push is stored.
	resp, err := http.Get(srv.URL + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || got != `Basic realm="`+registrytest.Realm+`"` {
		t.Errorf("GET /v2/ without credentials: %d, WWW-Authenticate %q", resp.StatusCode, got)
	}
	reg2, _ := name.NewRegistry(host, name.Insecure)
	repos, err := remote.Catalog(t.Context(), reg2, remote.WithAuth(&authn.Basic{Username: "slipway", Password: password}))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(repos, ",") != "team/right" {
		t.Errorf("catalog = %v, want only team/right", repos)
	}
	for _, w := range reg.Writes() {
		if !strings.HasPrefix(w.Path, "/v2/team/right/") {
			t.Errorf("Writes() has %v, which was not the right push", w)
		}
	}
}
