package goservice_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/generate"
	"github.com/slipway-ci/slipway/pipeline/goservice"
	"github.com/slipway-ci/slipway/pipeline/lint"
)

// TestPipeline: the stock pipeline generates files that lint clean against
// the module's functions through the toolchain, and plans the seed's jobs
// per ref.
func TestPipeline(t *testing.T) {
	p, err := goservice.Pipeline("billing", goservice.Registry("registry.example.com/team/billing"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range lintedFiles(t, p) {
		if !strings.Contains(string(f.Data), "dagger call slipway publish") {
			t.Errorf("%s does not call the toolchain's publish", f.Path)
		}
	}
	for _, tc := range []struct {
		event pipeline.Event
		ref   string
		want  int
	}{{pipeline.Push, "feature/x", 7}, {pipeline.Push, "develop", 8}, {pipeline.Push, "main", 9}, {pipeline.TagPush, "v1.0.0", 9}} {
		if got := len(p.Plan(tc.event, tc.ref)); got != tc.want {
			t.Errorf("%s %s: %d jobs, want %d", tc.event, tc.ref, got, tc.want)
		}
	}
}

func TestCustomize(t *testing.T) {
	c, err := goservice.Customize("main", []string{"./cmd/a", "./cmd/b"})
	if err != nil || c.Default != `["./cmd/a","./cmd/b"]` {
		t.Errorf("main = %+v, %v", c, err)
	}
	if c, err := goservice.Customize("ports", []int{8080}); err != nil || c.Default != "[8080]" {
		t.Errorf("ports = %+v, %v", c, err)
	}
	if _, err := goservice.Customize("mian", "x"); err == nil || !strings.HasPrefix(err.Error(), `slipway's module has no setting "mian" (it has: source, name, main,`) {
		t.Errorf("a misspelt setting: err = %v", err)
	}
	if _, err := goservice.Customize("ports", "8080"); err == nil || err.Error() != "setting ports is a []int, not a string" {
		t.Errorf("a string for a list: err = %v", err)
	}
	d := goservice.DaggerJSON{Name: "billing", EngineVersion: "v0.19.10", Toolchains: []goservice.InstalledToolchain{{
		Name: "slipway", Source: "github.com/slipway-ci/slipway@v1.0.0",
		Customizations: []goservice.Customization{c, {Argument: "files", Default: `web/x:/app/x "quoted"`}},
	}}}
	var back goservice.DaggerJSON
	if err := json.Unmarshal(d.Marshal(), &back); err != nil {
		t.Fatalf("dagger.json does not parse: %v\n%s", err, d.Marshal())
	}
	if !slices.Equal(back.Toolchains[0].Customizations, d.Toolchains[0].Customizations) {
		t.Errorf("round trip: %+v, want %+v", back, d)
	}
}

// TestOneJob: the one-job pipeline is one ci job that exports every
// stage's reports, checks the verdict and hands the image to the same
// deploy jobs as build does, and its files lint clean against the
// module's functions.
func TestOneJob(t *testing.T) {
	p, err := goservice.Pipeline("billing", goservice.Registry("registry.example.com/team/billing"), goservice.OneJob())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Stages(), []string{goservice.StageBuild, goservice.StageDeployStaging, goservice.StageDeployProduction}; !slices.Equal(got, want) {
		t.Errorf("stages %q, want %q", got, want)
	}
	for _, tc := range []struct {
		start pipeline.Start
		want  []string
	}{
		{pipeline.Start{Event: pipeline.Push, Ref: "main"}, []string{"ci", "deploy:staging", "deploy:production"}},
		{pipeline.Start{Event: pipeline.Push, Ref: "feature"}, []string{"ci"}},
		{pipeline.Start{Event: pipeline.TagPush, Ref: "v1.2.3"}, []string{"ci", "deploy:staging", "deploy:production"}},
		{pipeline.Start{Event: pipeline.MergeRequest, Ref: "main"}, []string{"ci"}},
	} {
		var names []string
		for _, j := range p.PlanFor(tc.start) {
			names = append(names, j.Name)
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("%s %s: plan %q, want %q", tc.start.Event, tc.start.Ref, names, tc.want)
		}
	}
	j, _ := p.Job("ci")
	cmd := j.Call.CommandIn(p.Target(), pipeline.Variable.GitLabName)
	want := `dagger call slipway ci --revision="$CI_COMMIT_SHA" --repository="$IMAGE_REPOSITORY" --username="$REGISTRY_USERNAME" --password=env://REGISTRY_PASSWORD --insecure="$REGISTRY_INSECURE" --db-repository="$TRIVY_DB_REPOSITORY" --db-insecure="$TRIVY_DB_INSECURE" --govuln-db-image="$GOVULNDB_IMAGE" --signing-key=env://SIGNING_KEY --source-url="$CI_PROJECT_URL" reports export --path=reports`
	if cmd != want {
		t.Errorf("command\n got %s\nwant %s", cmd, want)
	}
	if v := j.Call.VerifyCommandIn(p.Target(), pipeline.Variable.GitLabName); !strings.HasSuffix(v, " check") {
		t.Errorf("verify command %q does not end in check", v)
	}
	// The deploys read the image from ci's IMAGE_REF line.
	if got := j.OutputNames(); !slices.Equal(got, []string{goservice.ImageRef}) || j.Output != "" {
		t.Errorf("ci's outputs %q (whole output %q), want the line %s", got, j.Output, goservice.ImageRef)
	}
	for _, name := range []string{"deploy:staging", "deploy:production"} {
		d, _ := p.Job(name)
		if !slices.Contains(d.Needs, "ci") {
			t.Errorf("%s needs %q, not ci", name, d.Needs)
		}
		if got := d.Call.CommandIn(p.Target(), pipeline.Variable.GitLabName); !strings.Contains(got, `--image="$IMAGE_REF"`) {
			t.Errorf("%s does not read ci's IMAGE_REF: %s", name, got)
		}
	}
	var paths []string
	for _, r := range j.Reports {
		paths = append(paths, r.Path)
	}
	for _, dir := range []string{"reports/sbom/", "reports/unit/", "reports/integration/", "reports/trivy/", "reports/govulncheck/", "reports/sast/"} {
		if !slices.ContainsFunc(paths, func(p string) bool { return strings.HasPrefix(p, dir) }) {
			t.Errorf("no report under %s: %q", dir, paths)
		}
	}
	lintedFiles(t, p)
}

// TestNotify: the deploy jobs, and only they, pass the notification
// secrets as env://, and the generated files still lint against the
// module's functions.
func TestNotify(t *testing.T) {
	p, err := goservice.Pipeline("billing", goservice.Notify(goservice.Notification{
		SlackWebhook: "SLACK_WEBHOOK_URL", TelegramToken: "TELEGRAM_BOT_TOKEN", TelegramChat: "-1001234567890", Webhook: "NOTIFY_WEBHOOK_URL"}))
	if err != nil {
		t.Fatal(err)
	}
	want := "--slack-webhook=env://SLACK_WEBHOOK_URL --telegram-token=env://TELEGRAM_BOT_TOKEN --telegram-chat-id=-1001234567890 --notify-webhook=env://NOTIFY_WEBHOOK_URL --notify-link="
	for _, f := range lintedFiles(t, p) {
		lines := linesWith(f.Data, "slack-webhook")
		for _, line := range lines {
			if !strings.Contains(line, "deploy-staging") && !strings.Contains(line, "deploy-production") || !strings.Contains(line, want) {
				t.Errorf("%s: %s", f.Path, line)
			}
		}
		if n := len(lines); n != 2 {
			t.Errorf("%s: %d lines pass the Slack webhook, want the two deploy jobs'", f.Path, n)
		}
	}
	plain, err := goservice.Pipeline("billing")
	if err != nil {
		t.Fatal(err)
	}
	plainFiles, _ := generate.Files(plain)
	for _, f := range plainFiles {
		if strings.Contains(string(f.Data), "notify") {
			t.Errorf("%s mentions notifications, which nobody configured", f.Path)
		}
	}
	for _, tc := range []struct {
		n    goservice.Notification
		want string
	}{
		{goservice.Notification{TelegramToken: "TG"}, "goservice: Notify: the Telegram token secret TG has no chat: set TelegramChat"},
		{goservice.Notification{TelegramChat: "-1"}, "goservice: Notify: the Telegram chat -1 has no token: set TelegramToken to the name of the bot token's secret"},
	} {
		if _, err := goservice.Pipeline("billing", goservice.Notify(tc.n)); err == nil || err.Error() != tc.want {
			t.Errorf("Notify(%+v): %v, want %s", tc.n, err, tc.want)
		}
	}
}

// TestRequireVerification: the option puts --require-verification on
// deploy-production's line only, in both files, which lint clean; without
// it no line has the flag.
func TestRequireVerification(t *testing.T) {
	for _, on := range []bool{false, true} {
		opts := []goservice.Option{goservice.Registry("registry.example.com/team/billing")}
		if on {
			opts = append(opts, goservice.RequireVerification())
		}
		p, err := goservice.Pipeline("billing", opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range lintedFiles(t, p) {
			lines := linesWith(f.Data, "--require-verification")
			for _, line := range lines {
				if !strings.Contains(line, "deploy-production") || !strings.Contains(line, "--require-verification=true") {
					t.Errorf("%s: %s", f.Path, line)
				}
			}
			if want := map[bool]int{false: 0, true: 1}[on]; len(lines) != want {
				t.Errorf("RequireVerification %v: %s has %d lines with --require-verification, want %d", on, f.Path, len(lines), want)
			}
		}
	}
}

// lintedFiles generates p's files and lints each against the module's
// functions, called through the toolchain.
func lintedFiles(t *testing.T, p *pipeline.Pipeline) []generate.File {
	t.Helper()
	files, err := generate.Files(p)
	if err != nil {
		t.Fatal(err)
	}
	var fns []string
	for _, s := range goservice.Signatures() {
		fns = append(fns, s.Name)
	}
	for _, f := range files {
		opts := []lint.Option{lint.WithFunctions(fns...), lint.WithToolchain(goservice.DefaultToolchain), lint.WithFilename(f.Path)}
		if f.Path == generate.GitLabPath {
			err = lint.GitLab(f.Data, opts...)
		} else {
			err = lint.GitHub(f.Data, opts...)
		}
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
	}
	return files
}

// linesWith are data's lines that contain s, trimmed.
func linesWith(data []byte, s string) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, s) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}
