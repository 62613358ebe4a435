package shimrun_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
)

// TestStandIn checks the Dagger CLI stand-in itself, without a runner.
func TestStandIn(t *testing.T) {
	dagger := filepath.Join(standIn(t), "dagger")
	imageRE := regexp.MustCompile(`^registry\.example/app@sha256:[0-9a-f]{64}$`)

	tests := []struct {
		name       string
		args       []string
		env        []string // besides SLIPWAY_DAGGER_LOG
		noLog      bool     // leave SLIPWAY_DAGGER_LOG unset
		wantFail   bool
		wantStdout *regexp.Regexp
		want       []shimrun.Invocation // Stdout is checked by wantStdout
	}{
		{
			name:       "version answers the pinned version and records nothing",
			args:       []string{"version"},
			wantStdout: regexp.MustCompile(`^dagger v0\.19\.10 \(stand-in\)$`),
		},
		{
			name:     "without a log it fails loudly",
			args:     []string{"call", "test-unit"},
			noLog:    true,
			wantFail: true,
		},
		{
			name:       "a call is recorded with its job",
			args:       []string{"-m", "ci", "call", "test-unit", "--source=."},
			env:        []string{"CI_JOB_NAME=test:unit"},
			wantStdout: regexp.MustCompile(`^$`),
			want:       []shimrun.Invocation{{Args: []string{"-m", "ci", "call", "test-unit", "--source=."}, Function: "test-unit", Job: "test:unit"}},
		},
		{
			name:       "GitHub job ids are recorded too",
			args:       []string{"call", "test-unit"},
			env:        []string{"GITHUB_JOB=test-unit"},
			wantStdout: regexp.MustCompile(`^$`),
			want:       []shimrun.Invocation{{Args: []string{"call", "test-unit"}, Function: "test-unit", Job: "test-unit"}},
		},
		{
			name:       "secrets: whether set, never the value",
			args:       []string{"call", "deploy-staging", "--kubeconfig=env://KUBECONFIG_STAGING", "--token=env://MISSING_TOKEN"},
			env:        []string{"KUBECONFIG_STAGING=top-secret"},
			wantStdout: regexp.MustCompile(`^$`),
			want: []shimrun.Invocation{{
				Args:     []string{"call", "deploy-staging", "--kubeconfig=env://KUBECONFIG_STAGING", "--token=env://MISSING_TOKEN"},
				Function: "deploy-staging",
				Secrets:  map[string]bool{"KUBECONFIG_STAGING": true, "MISSING_TOKEN": false},
			}},
		},
		{
			name:       "publish prints an image reference",
			args:       []string{"call", "publish", "--source=."},
			wantStdout: imageRE,
			want:       []shimrun.Invocation{{Args: []string{"call", "publish", "--source=."}, Function: "publish"}},
		},
		{
			name:     "SLIPWAY_DAGGER_FAIL makes a function fail after recording",
			args:     []string{"call", "security-trivy"},
			env:      []string{"SLIPWAY_DAGGER_FAIL=security-sast,security-trivy"},
			wantFail: true,
			want:     []shimrun.Invocation{{Args: []string{"call", "security-trivy"}, Function: "security-trivy"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "dagger.log")
			cmd := exec.Command(dagger, tt.args...)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
			if !tt.noLog {
				cmd.Env = append(cmd.Env, "SLIPWAY_DAGGER_LOG="+logPath)
			}
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if tt.wantFail != (err != nil) {
				t.Fatalf("run: err = %v, want failure %v; stderr: %s", err, tt.wantFail, stderr.String())
			}
			if tt.wantFail && !strings.Contains(stderr.String(), "dagger (stand-in):") {
				t.Errorf("failure without a message on stderr: %q", stderr.String())
			}
			if tt.wantStdout != nil && !tt.wantStdout.MatchString(strings.TrimSuffix(stdout.String(), "\n")) {
				t.Errorf("stdout = %q, want %v", stdout.String(), tt.wantStdout)
			}
			got, err := shimrun.ReadLog(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("recorded %d invocations, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.Stdout != strings.TrimSuffix(stdout.String(), "\n") {
					t.Errorf("recorded stdout %q, printed %q", g.Stdout, stdout.String())
				}
				if !slices.Equal(g.Args, w.Args) || g.Function != w.Function || g.Job != w.Job || !mapsEqual(g.Secrets, w.Secrets) {
					t.Errorf("recorded %+v, want %+v", g, w)
				}
			}
			data, _ := os.ReadFile(logPath)
			if strings.Contains(string(data), "top-secret") {
				t.Errorf("the log holds a secret value: %s", data)
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestInvocationCallArgs checks that global flags before "call" are dropped.
func TestInvocationCallArgs(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"call", "build", "--source=."}, []string{"--source=."}},
		{[]string{"-m", "ci", "call", "build", "export", "--path=out"}, []string{"export", "--path=out"}},
		{[]string{"call", "build"}, []string{}},
		{[]string{"version"}, nil},
	}
	for _, tt := range tests {
		got := shimrun.Invocation{Args: tt.args}.CallArgs()
		if !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("CallArgs(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
