package pipeline

import "fmt"

// FullHistory is the Checkout depth that fetches every commit, as release
// jobs that compute versions or changelogs from history need.
const FullHistory = -1

// Submodules says whether a checkout fetches git submodules.
type Submodules string

// The submodule settings.
const (
	NoSubmodules        Submodules = ""
	TopSubmodules       Submodules = "normal"
	RecursiveSubmodules Submodules = "recursive"
)

// Checkout says how a job gets the repository before its `dagger call`.
// The zero Checkout is each CI's default (GitLab: the project's depth,
// GitHub: one commit, no tags).
type Checkout struct {
	// Depth is how many commits to fetch: 0 the CI's default, FullHistory
	// all of them (GIT_DEPTH: 0, fetch-depth: 0).
	Depth int
	// Tags fetches the tags too (GIT_FETCH_EXTRA_FLAGS: --tags, fetch-tags).
	Tags bool
	// Submodules fetches submodules (GIT_SUBMODULE_STRATEGY, submodules:).
	Submodules Submodules
	// Skip checks nothing out (GIT_STRATEGY: none, no checkout step): for
	// jobs whose function reads only other jobs' outputs.
	Skip bool
}

// WithCheckout sets how the job checks out the repository.
func WithCheckout(c Checkout) JobOption { return func(j *JobSpec) { j.Checkout = &c } }

func validateCheckout(j JobSpec, jp func(string, ...any)) {
	c := j.Checkout
	if c == nil {
		return
	}
	if c.Depth < FullHistory {
		jp("checkout depth %d must be a number of commits, 0 for the CI's default or pipeline.FullHistory", c.Depth)
	}
	switch c.Submodules {
	case NoSubmodules, TopSubmodules, RecursiveSubmodules:
	default:
		jp("checkout submodules %q must be pipeline.TopSubmodules or pipeline.RecursiveSubmodules", c.Submodules)
	}
	if !c.Skip {
		return
	}
	if c.Depth != 0 || c.Tags || c.Submodules != NoSubmodules {
		jp("skips the checkout but sets its depth, tags or submodules")
	}
	for _, args := range append([][]Arg{j.Call.Args}, j.Call.chains()...) {
		for _, a := range args {
			if a.Kind == ArgDirectory || a.Kind == ArgFile {
				jp("skips the checkout but passes %s; the repository is not there", fmt.Sprintf("--%s=%s", a.Name, a.Value))
			}
		}
	}
}
