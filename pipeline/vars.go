package pipeline

// Variable is a value that the CI system provides to every job, named the
// same way on every runner. Generators map each Variable to the runner's own
// environment variable, so commands never embed CI template syntax (which
// would open the door to script injection on GitHub).
//
// Some variables are the CI's own credentials (JobToken, RegistryPassword):
// they are secrets, passed to Dagger only as env://NAME with CISecret.
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
	// ProjectPath is the repository's path, such as "acme/app"
	// (CI_PROJECT_PATH, GITHUB_REPOSITORY).
	ProjectPath Variable = "project-path"
	// Registry is the CI's own container registry: the project's GitLab
	// registry (CI_REGISTRY), ghcr.io on GitHub.
	Registry Variable = "registry"
	// RegistryUser is the user name that logs in to Registry with
	// RegistryPassword (CI_REGISTRY_USER, the actor on GitHub).
	RegistryUser Variable = "registry-user"
	// RefSlug is the branch or tag name (a merge request's source branch)
	// lower-cased, shortened to 63 bytes, with everything but a-z and 0-9
	// replaced by "-" and no "-" at its ends: a DNS label, for review app
	// host names. GitLab's CI_COMMIT_REF_SLUG; on GitHub the step computes
	// it the same way into SLIPWAY_REF_SLUG.
	RefSlug Variable = "ref-slug"
)

// The CI's own credentials: secrets that the CI creates for every job, read
// with CISecret. Their scope is the job's: on GitHub its Permissions, on
// GitLab the project's CI/CD job token settings.
const (
	// JobToken is the job's token for the CI's API: CI_JOB_TOKEN,
	// GITHUB_TOKEN.
	JobToken Variable = "job-token"
	// RegistryPassword logs RegistryUser in to Registry:
	// CI_REGISTRY_PASSWORD, GITHUB_TOKEN (with packages: write to push).
	RegistryPassword Variable = "registry-password"
)

// Variables lists every portable variable that is not a secret, in a
// stable order.
func Variables() []Variable {
	return []Variable{CommitSHA, RefName, PipelineID, RepositoryURL, ProjectPath, Registry, RegistryUser, RefSlug}
}

// Credentials lists the CI's own credentials, in a stable order.
func Credentials() []Variable { return []Variable{JobToken, RegistryPassword} }

// Secret reports whether v is one of the CI's credentials, which reach
// Dagger only as env://NAME.
func (v Variable) Secret() bool { return v == JobToken || v == RegistryPassword }

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
	case ProjectPath:
		return "CI_PROJECT_PATH"
	case Registry:
		return "CI_REGISTRY"
	case RegistryUser:
		return "CI_REGISTRY_USER"
	case RefSlug:
		return "CI_COMMIT_REF_SLUG"
	case JobToken:
		return "CI_JOB_TOKEN"
	case RegistryPassword:
		return "CI_REGISTRY_PASSWORD"
	}
	return ""
}

// GitHubName returns the GitHub Actions environment variable for v.
// RepositoryURL, Registry and RefSlug have no default variable on GitHub;
// generators export them as SLIPWAY_REPOSITORY_URL, SLIPWAY_REGISTRY and
// SLIPWAY_REF_SLUG. The
// credentials are both the GITHUB_TOKEN secret, which generators put in the
// step's environment.
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
	case ProjectPath:
		return "GITHUB_REPOSITORY"
	case Registry:
		return "SLIPWAY_REGISTRY"
	case RegistryUser:
		return "GITHUB_ACTOR"
	case RefSlug:
		return "SLIPWAY_REF_SLUG"
	case JobToken, RegistryPassword:
		return "GITHUB_TOKEN"
	}
	return ""
}

func (v Variable) valid() bool { return v.GitLabName() != "" }

// RefSlugScript returns the POSIX shell lines that set the variable name to
// the slug of the branch or tag being built (a pull request's source
// branch), computed exactly as GitLab computes CI_COMMIT_REF_SLUG: the
// GitHub generator runs them, since GitHub has no such variable.
func RefSlugScript(name string) []string {
	return []string{
		name + `="$(printf '%s' "${GITHUB_HEAD_REF:-$GITHUB_REF_NAME}" | tr '[:upper:]' '[:lower:]' | sed 's/[^a-z0-9]/-/g' | cut -c1-63 | sed 's/^-*//; s/-*$//')"`,
	}
}
