package shimrun_test

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/shimrun"
	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/gitlab"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// featureRefs are the starts every feature pipeline is run for.
var featureRefs = []shimrun.Ref{
	shimrun.Branch("main"),
	shimrun.Branch("feature/x"),
	shimrun.Tag("v1.2.3"),
	shimrun.MergeRequest("feature/x", "main"),
}

// standInEngineHost is the engine address the runs of rewritten dind files
// get from the runner (it is only recorded: the stand-in has no engine).
const standInEngineHost = "unix:///run/slipway-standin/engine.sock"

// engineEnv are the variables that point `dagger` at its engine; the
// stand-in records them so the test sees which engine each job chose.
var engineEnv = []string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST", "DAGGER_CLOUD_ENGINE", "DOCKER_HOST"}

// TestFeaturesGitLab runs the .gitlab-ci.yml of every feature pipeline on
// gitlab-ci-local for a push to main and to a feature branch, a tag and a
// merge request, and checks that exactly the jobs the model plans made
// their `dagger call`, each pointed at the engine its definition chose.
func TestFeaturesGitLab(t *testing.T) {
	tool := requireTool(t, shimrun.FindGitLabCILocal)
	for _, f := range pipelinetest.Features() {
		if f.GitLabRefusal != "" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			if f.NoGitLabPlan != "" {
				t.Log(f.NoGitLabPlan + "; the golden file and its lint cover it")
				return
			}
			yml, err := gitlab.Generate(f.Pipeline)
			if err != nil {
				t.Fatal(err)
			}
			files := map[string][]byte{".gitlab-ci.yml": yml}
			for name, data := range f.Files {
				files[name] = data
			}
			// gitlab-ci-local cannot start the docker:dind service of
			// DockerEngine jobs: they run with the stand-in's engine
			// instead (shimrun.StandInDockerEngine), as on runners that
			// provide one.
			dind, changed, err := shimrun.StandInDockerEngine(yml)
			if err != nil {
				t.Fatal(err)
			}
			runFiles := maps.Clone(files)
			runFiles[".gitlab-ci.yml"] = dind
			for _, ref := range featureRefs {
				t.Run(ref.String(), func(t *testing.T) {
					t.Parallel()
					planFeature(t, shimrun.GitLab{Tool: tool}, files, f, ref)
					if f.NoGitLabRun != "" {
						t.Log(f.NoGitLabRun + "; the plan above, the golden file and its lint cover it")
						return
					}
					runFeature(t, shimrun.GitLab{Tool: tool}, gitlabRemote, runFiles, f, ref, false, changed != nil)
				})
			}
			if stops := stopJobs(f.Pipeline); len(stops) > 0 && f.NoGitLabRun == "" {
				// A person (or GitLab, when the merge request closes)
				// starts the stop jobs.
				ref := shimrun.MergeRequest("feature/x", "main")
				t.Run(ref.String()+" stopped", func(t *testing.T) {
					t.Parallel()
					runStops(t, shimrun.GitLab{Tool: tool}, gitlabRemote, files, f, ref, stops)
				})
			}
		})
	}
}

// TestFeaturesGitHub is TestFeaturesGitLab on act.
func TestFeaturesGitHub(t *testing.T) {
	tool := requireTool(t, shimrun.FindAct)
	for _, f := range pipelinetest.Features() {
		if f.GitHubRefusal != "" {
			continue
		}
		t.Run(f.Name, func(t *testing.T) {
			if f.NoGitHubRun != "" {
				t.Log(f.NoGitHubRun + "; the golden file and its lint cover it")
				return
			}
			yml, err := github.Generate(f.Pipeline)
			if err != nil {
				t.Fatal(err)
			}
			const path = ".github/workflows/ci.yml"
			files := map[string][]byte{path: yml}
			for _, ref := range featureRefs {
				t.Run(ref.String(), func(t *testing.T) {
					t.Parallel()
					runFeature(t, shimrun.GitHub{Tool: tool, Workflow: path}, githubRemote, files, f, ref, true, false)
				})
			}
			if stops := stopJobs(f.Pipeline); len(stops) > 0 {
				ref := shimrun.MergeRequest("feature/x", "main").Closed()
				t.Run(ref.String(), func(t *testing.T) {
					t.Parallel()
					runStops(t, shimrun.GitHub{Tool: tool, Workflow: path}, githubRemote, files, f, ref, stops)
				})
			}
		})
	}
}

// runFeature runs one feature pipeline for ref and compares the jobs that
// called Dagger with the model's plan. act does not simulate environment
// reviewers, so on GitHub the jobs waiting for approval run too; on GitLab
// they are manual jobs nobody started.
//
// standInEngine says the file's dind jobs were rewritten to use the engine
// of the run's environment (shimrun.StandInDockerEngine): every job then
// sees standInEngineHost unless its own engine names a host.
func runFeature(t *testing.T, r shimrun.Runner, remote string, files map[string][]byte, f pipelinetest.Feature, ref shimrun.Ref, github, standInEngine bool) {
	p := f.Pipeline
	names := append(p.Secrets(), pipeline.CloudTokenSecret)
	if github {
		// The job token, which GitHub gives every run and act takes as a
		// secret.
		names = append(names, "GITHUB_TOKEN")
	} else {
		// gitlab-ci-local predefines neither the job token nor the
		// registry credentials; GitLab gives every job both.
		names = append(names, "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD")
	}
	secrets := secretValues(names...)
	record := slices.Clone(engineEnv)
	for _, j := range p.Jobs() {
		if j.Matrix != nil {
			record = append(record, j.Matrix.Names()...)
		}
	}
	run := shimrun.Run{Secrets: secrets, RecordEnv: record}
	if standInEngine {
		run.Env = []string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST=" + standInEngineHost}
	}
	res, _ := runOnce(t, r, files, remote, ref, run)
	defer func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", r.Name(), outputTail(res.Output))
		}
	}()
	planned := p.PlanFor(featureStart(ref))
	if !github {
		for _, name := range f.IncludedJobs {
			if !strings.Contains(string(res.Output), "included job "+name+" ran") {
				t.Errorf("the included job %s did not run for %s", name, ref)
			}
		}
	}
	if res.ExitCode != 0 && !(github && len(planned) == 0 && strings.Contains(string(res.Output), "Could not find any stages to run")) {
		t.Errorf("%s exited %d, want the pipeline to pass", r.Name(), res.ExitCode)
	}
	byID := map[string]pipeline.JobSpec{}
	var want []string
	for _, j := range planned {
		byID[j.ID()] = j
		byID[j.Name] = j
		for _, name := range cellNames(j) {
			byID[name] = j
		}
		if j.WaitsFor(featureStart(ref), p.Variables()) && !github {
			continue
		}
		want = append(want, j.Name)
	}
	var got []string
	cells := map[string][]string{}
	for _, inv := range res.Invocations {
		j, ok := byID[normalizeCell(inv.Job)]
		if !ok {
			t.Errorf("job %q called Dagger (%s) but the model does not plan it for %s", inv.Job, strings.Join(inv.Args, " "), ref)
			continue
		}
		if !slices.Contains(got, j.Name) {
			got = append(got, j.Name)
		}
		if m := j.Matrix; m != nil {
			cells[j.Name] = append(cells[j.Name], cellOf(t, j, inv))
		}
		wantEnv := engineVars(p.EngineOf(j), github)
		if standInEngine {
			// The dind recipe's variables are gone with its service; the
			// engine is the runner's.
			delete(wantEnv, "DOCKER_HOST")
			if _, own := wantEnv["_EXPERIMENTAL_DAGGER_RUNNER_HOST"]; !own {
				wantEnv["_EXPERIMENTAL_DAGGER_RUNNER_HOST"] = standInEngineHost
			}
		}
		for _, k := range engineEnv {
			if inv.Env[k] != wantEnv[k] {
				t.Errorf("job %q: %s=%q, want %q", j.Name, k, inv.Env[k], wantEnv[k])
			}
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s, %s: jobs that called Dagger %q, want the planned %q", r.Name(), ref, got, want)
	}
	checkOutputs(t, r.Name()+", "+ref.String(), res.Invocations, byID)
	// Every cell of a matrix job ran once, with its own values.
	for _, j := range planned {
		if j.Matrix == nil || !slices.Contains(want, j.Name) {
			continue
		}
		var wantCells []string
		for _, c := range j.Matrix.Cells() {
			wantCells = append(wantCells, cellKey(j.Matrix.Names(), c))
		}
		gotCells := cells[j.Name]
		slices.Sort(gotCells)
		slices.Sort(wantCells)
		if !slices.Equal(gotCells, wantCells) {
			t.Errorf("%s, %s: job %q ran the cells %q, want %q", r.Name(), ref, j.Name, gotCells, wantCells)
		}
	}
	// A job with a summary asked for it after its call, and on GitLab
	// printed the table to its log.
	for _, j := range planned {
		if j.Summary == "" || !slices.Contains(want, j.Name) {
			continue
		}
		asked := slices.ContainsFunc(res.Invocations, func(inv shimrun.Invocation) bool {
			return byID[normalizeCell(inv.Job)].Name == j.Name && len(inv.Args) > 0 && inv.Args[len(inv.Args)-1] == j.Summary
		})
		if !asked {
			t.Errorf("%s, %s: job %q never called `%s %s`", r.Name(), ref, j.Name, j.Call.Function, j.Summary)
		}
		if row := "| " + j.Name + " | " + j.Call.Function + " | success | "; !github && !strings.Contains(string(res.Output), row) {
			t.Errorf("%s, %s: job %q printed no summary row %q", r.Name(), ref, j.Name, row)
		}
	}
	// A job that needs a matrix job starts after its last cell ended.
	first, last := map[string]int{}, map[string]int{}
	for i, inv := range res.Invocations {
		if j, ok := byID[normalizeCell(inv.Job)]; ok {
			if _, seen := first[j.Name]; !seen {
				first[j.Name] = i
			}
			last[j.Name] = i
		}
	}
	for _, j := range planned {
		for _, n := range j.Needs {
			dep, ok := p.Job(n)
			if !ok || dep.Matrix == nil {
				continue
			}
			if f, ran := first[j.Name]; ran && last[n] > f {
				t.Errorf("%s, %s: %q called Dagger (call %d) before the last cell of %q, which it needs, did (call %d)", r.Name(), ref, j.Name, f+1, n, last[n]+1)
			}
		}
	}
	assertSecrets(t, res, secrets)
}

// cellNames are the names GitLab gives the jobs of a matrix job's cells, as
// gitlab-ci-local spells them (see normalizeCell).
func cellNames(j pipeline.JobSpec) []string {
	if j.Matrix == nil {
		return nil
	}
	var out []string
	for _, c := range j.Matrix.Cells() {
		out = append(out, normalizeCell(j.Matrix.CellName(j.Name, c)))
	}
	return out
}

// normalizeCell writes a cell job's name without the spaces between its
// values: GitLab names a cell "test: [1.25, linux]", gitlab-ci-local
// "test: [1.25,linux]".
func normalizeCell(name string) string { return strings.ReplaceAll(name, ", ", ",") }

// cellKey renders a cell's values in axis order.
func cellKey(axes []string, c map[string]string) string {
	parts := make([]string, len(axes))
	for i, a := range axes {
		parts[i] = a + "=" + c[a]
	}
	return strings.Join(parts, " ")
}

// cellOf reads the cell an invocation of a matrix job ran for, from the
// axes' variables the stand-in recorded, and checks that the arguments
// reading the matrix got those values.
func cellOf(t *testing.T, j pipeline.JobSpec, inv shimrun.Invocation) string {
	t.Helper()
	c := map[string]string{}
	for _, a := range j.Matrix.Names() {
		c[a] = inv.Env[a]
	}
	for _, a := range j.Call.Args {
		if a.Matrix == "" {
			continue
		}
		if want := "--" + a.Name + "=" + c[a.Matrix]; !slices.Contains(inv.Args, want) {
			t.Errorf("job %q, cell %v: arguments %q lack %s", j.Name, c, inv.Args, want)
		}
	}
	return cellKey(j.Matrix.Names(), c)
}

// planFeature lists the jobs gitlab-ci-local plans for ref (--list-json,
// nothing runs) and compares them with the model's plan, manual jobs
// included: it covers files the shell executor cannot run.
func planFeature(t *testing.T, g shimrun.GitLab, files map[string][]byte, f pipelinetest.Feature, ref shimrun.Ref) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	tmp := t.TempDir()
	repo, err := shimrun.NewRepo(ctx, filepath.Join(tmp, "repo"), gitlabRemote, files, ref)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := g.Plan(ctx, shimrun.Run{Repo: repo, DaggerDir: standIn(t), TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, j := range jobs {
		// on_failure jobs are in the pipeline but run only after a
		// failure; the model plans a pipeline that succeeds.
		if j.When != "never" && j.When != "on_failure" {
			got = append(got, normalizeCell(j.Name))
		}
	}
	want = append(want, f.IncludedJobs...)
	for _, j := range f.Pipeline.PlanFor(featureStart(ref)) {
		if stop := j.StopJobName(); stop != "" {
			// The generated stop job, manual: in the pipeline, not run.
			want = append(want, stop)
		}
		if names := cellNames(j); names != nil {
			want = append(want, names...)
			continue
		}
		want = append(want, j.Name)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("gitlab-ci-local --list-json, %s: planned %q, want %q", ref, got, want)
	}
}

// featureStart is what the runners start for ref: the repositories'
// remotes are both acme/app, and no merge request comes from a fork.
func featureStart(ref shimrun.Ref) pipeline.Start {
	return pipeline.Start{Event: ref.Event, Ref: planRef(ref), Project: "acme/app"}
}

// planRef is the ref pipeline.Plan matches for ref: the target branch of a
// merge request.
func planRef(ref shimrun.Ref) string {
	if ref.Event == pipeline.MergeRequest {
		return ref.Target
	}
	return ref.Name
}

// engineVars are the engine variables a job on e must see.
func engineVars(e pipeline.Engine, github bool) map[string]string {
	out := map[string]string{}
	switch e.Mode() {
	case pipeline.RunnerEngineKind:
		if e.RunnerHost != "" {
			out["_EXPERIMENTAL_DAGGER_RUNNER_HOST"] = e.RunnerHost
		}
	case pipeline.CloudEngineKind:
		out["DAGGER_CLOUD_ENGINE"] = "true"
	case pipeline.DockerEngineKind:
		if !github {
			out["DOCKER_HOST"] = "tcp://docker:2376"
		}
	}
	return out
}

// stopJobs returns the stop jobs of the jobs a merge request plans, by the
// name each CI gives them.
func stopJobs(p *pipeline.Pipeline) map[string]pipeline.JobSpec {
	out := map[string]pipeline.JobSpec{}
	for _, j := range p.PlanFor(pipeline.Start{Event: pipeline.MergeRequest, Ref: "main", Project: "acme/app"}) {
		if stop, ok := j.StopJob(); ok {
			out[stop.Name] = stop
			out[stop.ID()] = stop
		}
	}
	return out
}

// runStops runs the stop jobs: on act for a closed pull request, where
// only they must call Dagger; on gitlab-ci-local for a merge request with
// the manual stop jobs started, where they call Dagger besides the
// planned jobs. Each calls its stop function.
func runStops(t *testing.T, r shimrun.Runner, remote string, files map[string][]byte, f pipelinetest.Feature, ref shimrun.Ref, stops map[string]pipeline.JobSpec) {
	run := shimrun.Run{Secrets: secretValues(append(f.Pipeline.Secrets(), pipeline.CloudTokenSecret, "GITHUB_TOKEN", "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD")...)}
	var wantStops []string
	for name, s := range stops {
		if name == s.Name {
			wantStops = append(wantStops, s.Name)
			run.Manual = append(run.Manual, s.Name)
		}
	}
	res, _ := runOnce(t, r, files, remote, ref, run)
	if res.ExitCode != 0 {
		t.Errorf("%s exited %d, want the pipeline to pass\n%s", r.Name(), res.ExitCode, outputTail(res.Output))
	}
	var gotStops []string
	for _, inv := range res.Invocations {
		s, ok := stops[inv.Job]
		if !ok {
			if _, planned := r.(shimrun.GitHub); planned {
				t.Errorf("job %q called Dagger for a closed pull request; only the stop jobs may", inv.Job)
			}
			continue
		}
		if inv.Function != s.Call.Function {
			t.Errorf("stop job %q called %q, want %q", inv.Job, inv.Function, s.Call.Function)
		}
		for _, a := range s.Call.Args {
			// The slug of feature/x, as GitLab computes CI_COMMIT_REF_SLUG.
			if want := "--" + a.Name + "=feature-x"; a.Var == pipeline.RefSlug && !slices.Contains(inv.Args, want) {
				t.Errorf("stop job %q: arguments %q lack %s", inv.Job, inv.Args, want)
			}
		}
		gotStops = append(gotStops, s.Name)
	}
	slices.Sort(gotStops)
	slices.Sort(wantStops)
	if !slices.Equal(gotStops, wantStops) {
		t.Errorf("%s, %s: stop jobs that called Dagger %q, want %q", r.Name(), ref, gotStops, wantStops)
	}
}

// checkOutputs checks that every output a job read (pipeline.FromJob)
// reached its call with the value the job that printed it printed: its
// whole output (Output), or its NAME=value line (Outputs).
func checkOutputs(t *testing.T, what string, invs []shimrun.Invocation, byID map[string]pipeline.JobSpec) {
	t.Helper()
	printed := map[string]string{}
	for _, inv := range invs {
		j, ok := byID[normalizeCell(inv.Job)]
		if !ok || inv.Stdout == "" {
			continue
		}
		if j.Output != "" {
			printed[j.Name+"\x00"+j.Output] = inv.Stdout
		}
		for _, line := range strings.Split(inv.Stdout, "\n") {
			if name, v, ok := strings.Cut(line, "="); ok && slices.Contains(j.Outputs, name) {
				printed[j.Name+"\x00"+name] = v
			}
		}
	}
	for _, inv := range invs {
		j, ok := byID[normalizeCell(inv.Job)]
		if !ok || inv.Function != j.Call.Function {
			continue
		}
		for _, a := range j.Call.Args {
			if a.Output == nil {
				continue
			}
			v, ok := printed[a.Output.Job+"\x00"+a.Output.Name]
			if !ok {
				continue // the job that prints it printed nothing here
			}
			if want := "--" + a.Name + "=" + v; !slices.Contains(inv.CallArgs(), want) {
				t.Errorf("%s: job %q called %s with %q, want %s (the output %s of %q)", what, j.Name, j.Call.Function, inv.CallArgs(), want, a.Output.Name, a.Output.Job)
			}
		}
	}
}
