package ociregistry

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The error of a failed push names the registry and the user, says what
// to check, and claims "nothing was pushed" only where that holds (a 401
// stops the push at its first request).
func TestPushError(t *testing.T) {
	for _, tc := range []struct {
		name, ref, user string
		code            int
		stderr          string
		want, notWant   []string
	}{
		{
			name: "wrong password", ref: "10.87.0.1:5000/team/app:latest", user: "ci", code: exitUnauthorized,
			want:    []string{"pushing 10.87.0.1:5000/team/app:latest", "registry 10.87.0.1:5000 refused the credentials of user \"ci\"", "401 Unauthorized", "nothing was pushed", "Check the password or token secret"},
			notWant: []string{"the registry says", "\n"},
		},
		{
			name: "wrong password, the registry's message", ref: "registry.example.com/team/app:v1", user: "ci", code: exitUnauthorized,
			stderr: "UNAUTHORIZED: authentication required\n",
			want:   []string{"registry registry.example.com refused", "(the registry says: UNAUTHORIZED: authentication required)", "nothing was pushed"},
		},
		{
			name: "no credentials", ref: "localhost/app", code: exitUnauthorized,
			want:    []string{"registry localhost requires authentication", "nothing was pushed", "Give a username and a password or token secret"},
			notWant: []string{"user \"\""},
		},
		{
			name: "Docker Hub", ref: "team/app:v1", user: "ci", code: exitUnauthorized,
			want: []string{"registry index.docker.io refused the credentials of user \"ci\""},
		},
		{
			name: "refused after uploads", ref: "10.87.0.1:5000/team/app:latest", user: "ci", code: exitUnauthorizedAfterUploads,
			want:    []string{"refused the credentials of user \"ci\" (401 Unauthorized)", "it had accepted blob uploads, but no manifest or tag was written", "Check the password"},
			notWant: []string{"nothing was pushed"},
		},
		{
			name: "no permission", ref: "ghcr.io/team/app:v1", user: "bot", code: exitDenied,
			stderr: "DENIED: requested access to the resource is denied",
			want:   []string{"registry ghcr.io denied user \"bot\" (403 Forbidden)", "DENIED: requested access", "nothing was pushed", "push permission on the repository"},
		},
		{
			name: "no permission for the manifest", ref: "ghcr.io/team/app:v1", user: "bot", code: exitDeniedAfterUploads,
			want:    []string{"denied user \"bot\" (403 Forbidden)", "no manifest or tag was written"},
			notWant: []string{"nothing was pushed"},
		},
		{
			name: "other failure", ref: "ghcr.io/team/app:v1", user: "bot", code: 1,
			stderr:  "ociregistry: pushing ghcr.io/team/app:v1: dial tcp: lookup ghcr.io: no such host\n",
			want:    []string{"ociregistry: pushing ghcr.io/team/app:v1: dial tcp: lookup ghcr.io: no such host"},
			notWant: []string{"credentials", "nothing was pushed", "app:v1: ociregistry: pushing"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := pushError(tc.ref, tc.user, tc.code, tc.stderr).Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("error has %q:\n%s", w, msg)
				}
			}
		})
	}
}

// The tool and the library agree on the exit codes.
func TestToolExitCodes(t *testing.T) {
	for name, want := range map[string]int{
		"exitUnauthorized": exitUnauthorized, "exitDenied": exitDenied,
		"exitUnauthorizedAfterUploads": exitUnauthorizedAfterUploads, "exitDeniedAfterUploads": exitDeniedAfterUploads,
	} {
		m := regexp.MustCompile(`(?m)^\s*` + name + `\s*=\s*(\d+)`).FindStringSubmatch(toolMain)
		if m == nil {
			t.Errorf("cmd/ociregistry does not define %s", name)
			continue
		}
		if got, _ := strconv.Atoi(m[1]); got != want {
			t.Errorf("cmd/ociregistry's %s = %d, the library's = %d", name, got, want)
		}
	}
}
