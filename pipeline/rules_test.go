package pipeline_test

import (
	"slices"
	"testing"

	"github.com/slipway-ci/slipway/pipeline"
)

func TestParseRefPattern(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    pipeline.RefPattern
		wantErr string
	}{
		{in: "main", want: pipeline.RefPattern{Prefix: "main"}},
		{in: "release/*", want: pipeline.RefPattern{Prefix: "release/", Wildcard: true}},
		{in: "v*", want: pipeline.RefPattern{Prefix: "v", Wildcard: true}},
		{in: "*", want: pipeline.RefPattern{Prefix: "", Wildcard: true}},
		{in: "release.*", want: pipeline.RefPattern{Prefix: "release.", Wildcard: true}},
		{in: "feature/JIRA-1_x", want: pipeline.RefPattern{Prefix: "feature/JIRA-1_x"}},
		{in: "", wantErr: "empty pattern"},
		{in: "**", wantErr: `"**" has a "*" before its end; use an exact name or a prefix followed by one "*", such as "release/*"`},
		{in: "*-rc", wantErr: `"*-rc" has a "*" before its end; use an exact name or a prefix followed by one "*", such as "release/*"`},
		{in: "a b", wantErr: `"a b" is not a valid git ref pattern: it has ' ', which git does not allow in ref names`},
		{in: "a~1", wantErr: `"a~1" is not a valid git ref pattern: it has '~', which git does not allow in ref names`},
		{in: "a^", wantErr: `"a^" is not a valid git ref pattern: it has '^', which git does not allow in ref names`},
		{in: "a?", wantErr: `"a?" is not a valid git ref pattern: it has '?', which git does not allow in ref names`},
		{in: "a[1]", wantErr: `"a[1]" is not a valid git ref pattern: it has '[', which git does not allow in ref names`},
		{in: `a\b`, wantErr: `"a\\b" is not a valid git ref pattern: it has '\\', which git does not allow in ref names`},
		{in: "a\tb", wantErr: `"a\tb" is not a valid git ref pattern: it has a control character`},
		{in: "a..b", wantErr: `"a..b" is not a valid git ref pattern: it has ".."`},
		{in: "a@{1}", wantErr: `"a@{1}" is not a valid git ref pattern: it has "@{"`},
		{in: "a//b", wantErr: `"a//b" is not a valid git ref pattern: it has "//"`},
		{in: "/main", wantErr: `"/main" is not a valid git ref pattern: it starts with "/"`},
		{in: ".main", wantErr: `".main" is not a valid git ref pattern: it starts with "."`},
		{in: "@", wantErr: `"@" is not a valid git ref pattern: "@" alone is not a ref`},
		{in: "release/", wantErr: `"release/" is not a valid git ref pattern: it ends with "/"`},
		{in: "release.", wantErr: `"release." is not a valid git ref pattern: it ends with "."`},
		{in: "main.lock", wantErr: `"main.lock" is not a valid git ref pattern: it ends with ".lock"`},
		{in: "a/.b", wantErr: `"a/.b" is not a valid git ref pattern: a component starts with "."`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := pipeline.ParseRefPattern(tc.in)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseRefPattern(%q) = %+v, want error %q", tc.in, got, tc.wantErr)
				}
				if err.Error() != tc.wantErr {
					t.Fatalf("ParseRefPattern(%q) error:\n got: %s\nwant: %s", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRefPattern(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseRefPattern(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestRefPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		matches []string
		misses  []string
	}{
		{"main", []string{"main"}, []string{"main2", "mai", "feature/main", ""}},
		{"release/*", []string{"release/1.0", "release/1.0/hotfix", "release/"}, []string{"release", "releases/1", "x/release/1"}},
		{"v*", []string{"v1.2.3", "v", "very"}, []string{"1.2.3", "V1"}},
		{"*", []string{"main", "feature/a/b", ""}, nil},
	} {
		rp, err := pipeline.ParseRefPattern(tc.pattern)
		if err != nil {
			t.Fatalf("ParseRefPattern(%q): %v", tc.pattern, err)
		}
		for _, ref := range tc.matches {
			if !rp.Match(ref) {
				t.Errorf("%q does not match %q, want a match", tc.pattern, ref)
			}
		}
		for _, ref := range tc.misses {
			if rp.Match(ref) {
				t.Errorf("%q matches %q, want no match", tc.pattern, ref)
			}
		}
	}
}

func TestRuleMatches(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rule  pipeline.Rule
		event pipeline.Event
		ref   string
		want  bool
	}{
		{"any branch", pipeline.OnBranches(), pipeline.Push, "feature/x", true},
		{"any branch, not a tag", pipeline.OnBranches(), pipeline.TagPush, "v1", false},
		{"exact branch", pipeline.OnBranches("main", "develop"), pipeline.Push, "develop", true},
		{"exact branch miss", pipeline.OnBranches("main", "develop"), pipeline.Push, "feature/x", false},
		{"prefix branch", pipeline.OnBranches("release/*"), pipeline.Push, "release/2.0", true},
		{"tag prefix", pipeline.OnTags("v*"), pipeline.TagPush, "v1.2.3", true},
		{"tag prefix miss", pipeline.OnTags("v*"), pipeline.TagPush, "1.2.3", false},
		{"tag rule on a branch named like a tag", pipeline.OnTags("v*"), pipeline.Push, "v1", false},
		{"any merge request", pipeline.OnMergeRequests(), pipeline.MergeRequest, "anything", true},
		{"merge request target", pipeline.OnMergeRequests("main"), pipeline.MergeRequest, "main", true},
		{"merge request other target", pipeline.OnMergeRequests("main"), pipeline.MergeRequest, "develop", false},
		{"schedule", pipeline.OnSchedule(), pipeline.Schedule, "main", true},
		{"schedule, not a push", pipeline.OnSchedule(), pipeline.Push, "main", false},
		{"dispatch", pipeline.OnDispatch(), pipeline.Dispatch, "main", true},
		{"changes are left to the CI", pipeline.OnBranches("main").WithChanges("src/**"), pipeline.Push, "main", true},
		{"an invalid pattern matches nothing", pipeline.Rule{Event: pipeline.Push, Refs: []string{"a b"}}, pipeline.Push, "a b", false},
	} {
		if got := tc.rule.Matches(tc.event, tc.ref); got != tc.want {
			t.Errorf("%s: %+v.Matches(%q, %q) = %v, want %v", tc.name, tc.rule, tc.event, tc.ref, got, tc.want)
		}
	}
}

func TestWithChangesCopies(t *testing.T) {
	base := pipeline.OnBranches("main").WithChanges("a/**")
	x := base.WithChanges("x/**")
	y := base.WithChanges("y/**")
	if want := []string{"a/**"}; !slices.Equal(base.Changes, want) {
		t.Errorf("base.Changes = %q, want %q", base.Changes, want)
	}
	if want := []string{"a/**", "x/**"}; !slices.Equal(x.Changes, want) {
		t.Errorf("x.Changes = %q, want %q", x.Changes, want)
	}
	if want := []string{"a/**", "y/**"}; !slices.Equal(y.Changes, want) {
		t.Errorf("y.Changes = %q, want %q", y.Changes, want)
	}
}
