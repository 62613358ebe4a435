package pipeline

// Variable is a value that the CI system provides to every job, named the
// same way on every runner. Generators map each Variable to the runner's own
// environment variable, so commands never embed CI template syntax (which
// would open the door to script injection on GitHub).
type Variable string

// The portable CI variables.
const (
	// CommitSHA is the full commit SHA being built.
	CommitSHA Variable = "commit-sha"
	// RefName is the branch or tag name being built.
	RefName Variable = "ref-name"
	// PipelineID is a number unique to the pipeline or workflow run.
	PipelineID Variable = "pipeline-id"
	// RepositoryURL is the web address of the repository.
	RepositoryURL Variable = "repository-url"
)

// Variables lists every portable variable, in a stable order.
func Variables() []Variable {
	return []Variable{CommitSHA, RefName, PipelineID, RepositoryURL}
}

// GitLabName returns the GitLab CI predefined variable for v.
func (v Variable) GitLabName() string {
	switch v {
	case CommitSHA:
		return "CI_COMMIT_SHA"
	case RefName:
		return "CI_COMMIT_REF_NAME"
	case PipelineID:
		return "CI_PIPELINE_ID"
	case RepositoryURL:
		return "CI_PROJECT_URL"
	}
	return ""
}

// GitHubName returns the GitHub Actions default environment variable for v.
// RepositoryURL has no single default variable on GitHub; generators derive
// it from GITHUB_SERVER_URL and GITHUB_REPOSITORY, exported as
// SLIPWAY_REPOSITORY_URL.
func (v Variable) GitHubName() string {
	switch v {
	case CommitSHA:
		return "GITHUB_SHA"
	case RefName:
		return "GITHUB_REF_NAME"
	case PipelineID:
		return "GITHUB_RUN_ID"
	case RepositoryURL:
		return "SLIPWAY_REPOSITORY_URL"
	}
	return ""
}

func (v Variable) valid() bool { return v.GitLabName() != "" }
