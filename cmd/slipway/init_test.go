package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline/goservice"
)

// service writes a small Go service (files: path -> content) and returns
// its directory.
func service(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goMod = "module example.com/shop\n\ngo 1.25.0\n"

const server = `package main

import "net/http"

func main() {
	http.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	http.ListenAndServe(":8080", nil)
}
`

func initIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	all := append([]string{"init", "--slipway=github.com/slipway-ci/slipway@v1.0.0", "--slipway-version=v1.0.0", "--dry-run"}, args...)
	err := run(context.Background(), append(all, dir), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestInitFindsTheService(t *testing.T) {
	dir := service(t, map[string]string{
		"go.mod":                               goMod,
		"cmd/shop/main.go":                     server,
		"internal/store/store.go":              "package store\n",
		"deploy/base/kustomization.yaml":       "resources: [app.yaml]\n",
		"deploy/base/app.yaml":                 "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: shop}\nspec:\n  selector: {matchLabels: {app: shop}}\n  template:\n    metadata: {labels: {app: shop}}\n    spec:\n      containers:\n      - name: shop\n        image: shop\n        ports: [{name: http, containerPort: 8080}]\n        readinessProbe: {httpGet: {path: /ready, port: http}}\n",
		"deploy/staging/kustomization.yaml":    "resources: [../base]\n",
		"deploy/production/kustomization.yaml": "resources: [../base]\n",
		"Dockerfile":                           "FROM scratch\nCOPY templates /app/templates\nCMD [\"--templates=/app/templates\"]\n",
		"templates/index.html":                 "<html></html>\n",
	})
	out, err := initIn(t, dir)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	start := strings.Index(out, "{")
	end := strings.Index(out, "\n--- ci/go.mod")
	var cfg goservice.DaggerJSON
	if err := json.Unmarshal([]byte(out[start:end]), &cfg); err != nil {
		t.Fatalf("dagger.json: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, c := range cfg.Toolchains[0].Customizations {
		got[c.Argument] = c.Default
	}
	for setting, want := range map[string]string{
		"name":                "shop",
		"main":                `["./cmd/shop"]`,
		"ports":               "[8080]",
		"smoke":               `["8080/ready=200"]`,
		"files":               `["templates:/app/templates"]`,
		"args":                `["--templates=/app/templates"]`,
		"stagingNamespace":    "shop-staging",
		"stagingManifests":    "deploy/staging",
		"productionNamespace": "shop",
		"productionManifests": "deploy/production",
		"repository":          "registry.example.com/shop",
	} {
		if got[setting] != want {
			t.Errorf("%s = %q, want %q", setting, got[setting], want)
		}
	}
	if cfg.Toolchains[0].Source != "github.com/slipway-ci/slipway@v1.0.0" || cfg.EngineVersion != "v0.19.10" {
		t.Errorf("toolchain %+v", cfg)
	}
	for _, want := range []string{"--- ci/main.go", `command.Main(goservice.Define("shop",`, "--- .gitlab-ci.yml", "dagger call slipway publish", "--- .github/workflows/ci.yml"} {
		if !strings.Contains(out, want) {
			t.Errorf("the dry run lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dagger.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--dry-run wrote dagger.json")
	}
}

func TestInitRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"no go.mod", map[string]string{"main.go": server}, nil,
			"no go.mod in DIR: run slipway init at the root of the service's Go module (the directory with go.mod)"},
		{"no main package", map[string]string{"go.mod": goMod, "lib/lib.go": "package lib\n"}, nil,
			"the module example.com/shop has no main package: slipway builds commands; pass --main=./cmd/NAME"},
		{"several main packages", map[string]string{"go.mod": goMod, "cmd/a/main.go": server, "cmd/b/main.go": server}, nil,
			"the module has 2 main packages (./cmd/a, ./cmd/b): choose the service's with --main (repeat it for more binaries; the first is the entrypoint)"},
		{"a dagger.json of its own", map[string]string{"go.mod": goMod, "main.go": server, "dagger.json": "{}"}, nil,
			"dagger.json already exist and slipway did not generate them: it overwrites nothing else; move them aside, or choose another --pipeline-dir for the definition"},
		{"a CI file of its own", map[string]string{"go.mod": goMod, "main.go": server, ".gitlab-ci.yml": "stages: [x]\n"}, nil,
			".gitlab-ci.yml already exist and slipway did not generate them"},
		{"the pipeline directory is a package", map[string]string{"go.mod": goMod, "main.go": server, "ci/ci.go": "package ci\n"}, nil,
			"ci holds Go files of its own: the definition needs a directory to itself; pass --pipeline-dir"},
		{"a name that is no DNS label", map[string]string{"go.mod": goMod, "main.go": server}, []string{"--name=Shop_Front"},
			`the service's name "Shop_Front" is not a DNS label (lower-case letters, digits and -): pass --name`},
		{"an engine it does not know", map[string]string{"go.mod": goMod, "main.go": server}, []string{"--engine=k8s"},
			`init: -engine="k8s": docker, runner or cloud: usage`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := service(t, tc.files)
			out, err := initIn(t, dir, tc.args...)
			if err == nil {
				t.Fatalf("init passed:\n%s", out)
			}
			want := strings.ReplaceAll(tc.want, "DIR", dir)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v\nwant it to contain %q", err, want)
			}
		})
	}
}

// TestInitWritesAndOverwritesOnlyItsOwn: a second init over the files of
// the first is refused for dagger.json (the team's from then on), while
// the generated CI files carry slipway's header.
func TestInitWritesAndOverwritesOnlyItsOwn(t *testing.T) {
	dir := service(t, map[string]string{"go.mod": goMod, "main.go": server})
	var out bytes.Buffer
	args := []string{"init", "--slipway=github.com/slipway-ci/slipway@v1.0.0", "--slipway-version=v1.0.0", dir}
	// Writing needs `go mod tidy` of the definition, which needs slipway
	// from a proxy; the write itself is what this test checks.
	err := run(context.Background(), args, &out, &out)
	for _, f := range []string{"dagger.json", "ci/main.go", "ci/go.mod", ".gitlab-ci.yml", ".github/workflows/ci.yml"} {
		if _, statErr := os.Stat(filepath.Join(dir, f)); statErr != nil {
			t.Errorf("init did not write %s (init: %v)", f, err)
		}
	}
	gl, _ := os.ReadFile(filepath.Join(dir, ".gitlab-ci.yml"))
	if !bytes.HasPrefix(gl, generatedHeader) {
		t.Errorf(".gitlab-ci.yml does not start with slipway's header")
	}
	err = run(context.Background(), args, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "dagger.json, ci/go.mod, ci/main.go already exist and slipway did not generate them") {
		t.Errorf("a second init: err = %v", err)
	}
}
