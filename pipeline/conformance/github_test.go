// Package conformance_test checks that what the generators write for any
// valid pipeline is a valid CI file: it parses, matches the CI's schema,
// passes the cross-reference checks and actionlint (package lint), and says
// what the pipeline says (the same jobs, stages, needs and functions).
//
// The pipelines come from pipelinetest.Random, so a fuzz run explores
// pipelines that no hand-written test thought of.
package conformance_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/slipway-ci/slipway/pipeline"
	"github.com/slipway-ci/slipway/pipeline/github"
	"github.com/slipway-ci/slipway/pipeline/lint"
	"github.com/slipway-ci/slipway/pipeline/pipelinetest"
)

// seeds is how many random pipelines the plain tests check per generator.
const seeds = 200

// checkGitHub generates p's workflow twice, lints it and checks that it
// holds p's jobs.
func checkGitHub(t *testing.T, what string, p *pipeline.Pipeline) {
	t.Helper()
	out, err := github.Generate(p)
	if err != nil {
		t.Fatalf("%s: github.Generate: %v", what, err)
	}
	again, err := github.Generate(p)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("%s: github.Generate is not deterministic (second error: %v)", what, err)
	}
	if err := lint.GitHub(out, lint.WithFunctions(pipelinetest.Functions(p)...)); err != nil {
		t.Fatalf("%s: lint.GitHub: %v\n--- workflow ---\n%s", what, err, out)
	}
	var wf struct {
		Jobs map[string]struct {
			Needs any `yaml:"needs"`
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(out, &wf); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var want []string
	for _, j := range p.Jobs() {
		want = append(want, j.ID())
		got, ok := wf.Jobs[j.ID()]
		if !ok {
			continue // reported below
		}
		needs := toStrings(got.Needs)
		for _, n := range j.Needs {
			dep, _ := p.Job(n)
			if !slices.Contains(needs, dep.ID()) {
				t.Errorf("%s: job %q: needs %q, want it to include %q", what, j.ID(), needs, dep.ID())
			}
		}
		if j.Workflow != nil {
			continue // it runs no steps: it calls the workflow
		}
		var runs strings.Builder
		for _, s := range got.Steps {
			runs.WriteString(s.Run + "\n")
		}
		if call := "call " + j.Call.Function; !strings.Contains(runs.String(), call) {
			t.Errorf("%s: job %q runs no %q:\n%s", what, j.ID(), call, runs.String())
		}
	}
	if _, ok := wf.Jobs[github.ChangesJob]; ok {
		if !hasChanges(p) {
			t.Errorf("%s: a change-detection job, but no rule filters by changed paths", what)
		}
		want = append(want, github.ChangesJob)
	}
	if got := sortedKeys(wf.Jobs); !slices.Equal(got, sorted(want)) {
		t.Errorf("%s: workflow jobs %q, want %q", what, got, sorted(want))
	}
}

func TestGitHubRandom(t *testing.T) {
	for seed := int64(0); seed < seeds; seed++ {
		checkGitHub(t, seedName(seed, "WithoutChanges"), pipelinetest.Random(seed, pipelinetest.WithoutChanges()))
		if seed%4 == 0 {
			checkGitHub(t, seedName(seed, "SameChanges"), pipelinetest.Random(seed, pipelinetest.SameChanges()))
		}
		if seed%2 == 0 {
			checkGitHub(t, seedName(seed, "GitHubOnly"), pipelinetest.Random(seed, pipelinetest.WithoutChanges(), pipelinetest.GitHubOnly()))
		}
	}
}

// TestGitHubRandomChanges: random pipelines whose jobs filter by different
// changed paths (and, GitHub only, ignore some) generate and lint too, with
// the change-detection job.
func TestGitHubRandomChanges(t *testing.T) {
	detected := 0
	for seed := int64(0); seed < seeds; seed++ {
		for _, p := range []*pipeline.Pipeline{pipelinetest.Random(seed), pipelinetest.Random(seed, pipelinetest.GitHubOnly())} {
			checkGitHub(t, seedName(seed, ""), p)
			out, _ := github.Generate(p)
			if strings.Contains(string(out), "\n  "+github.ChangesJob+":\n") {
				detected++
			}
		}
	}
	if detected == 0 || detected == 2*seeds {
		t.Errorf("%d of %d random pipelines got a change-detection job; want some but not all", detected, 2*seeds)
	}
}

func TestGitHubSynthetic(t *testing.T) {
	checkGitHub(t, "Synthetic(300)", pipelinetest.Synthetic(300))
}

func hasChanges(p *pipeline.Pipeline) bool {
	for _, j := range p.Jobs() {
		for _, r := range j.Rules {
			if len(r.Changes) > 0 || len(r.IgnoreChanges) > 0 {
				return true
			}
		}
	}
	return false
}
