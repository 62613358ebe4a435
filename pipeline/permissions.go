package pipeline

import (
	"fmt"
	"maps"
	"slices"
)

// Scope is a permission of GitHub's GITHUB_TOKEN. GitLab's CI_JOB_TOKEN has
// no per-job permissions (its access is the project's CI/CD job token
// setting), so the GitLab generator does not use them; they only narrow what
// a GitHub job may do.
type Scope string

// The scopes a job may be granted. A job gets contents: read and nothing
// else unless it asks: least privilege by default.
const (
	Contents       Scope = "contents"
	Packages       Scope = "packages"
	IDTokens       Scope = "id-token"
	Attestations   Scope = "attestations"
	PullRequests   Scope = "pull-requests"
	SecurityEvents Scope = "security-events"
	Checks         Scope = "checks"
	Actions        Scope = "actions"
	Deployments    Scope = "deployments"
	Issues         Scope = "issues"
	Statuses       Scope = "statuses"
)

// Access is the level of a Scope.
type Access string

// The access levels.
const (
	NoAccess    Access = "none"
	ReadAccess  Access = "read"
	WriteAccess Access = "write"
)

// Permission grants access to one scope.
type Permission struct {
	Scope  Scope
	Access Access
}

// Read grants read access to s.
func (s Scope) Read() Permission { return Permission{s, ReadAccess} }

// Write grants write access to s (which includes read).
func (s Scope) Write() Permission { return Permission{s, WriteAccess} }

// None withdraws s, even contents, which jobs otherwise read.
func (s Scope) None() Permission { return Permission{s, NoAccess} }

// Permissions grants the job's GITHUB_TOKEN these permissions, on top of
// contents: read and of what the job's own settings need (security-events:
// write to upload SARIF, id-token: write for an IDToken argument). The
// GitLab generator ignores them: CI_JOB_TOKEN's access is a project setting.
func Permissions(perms ...Permission) JobOption {
	return func(j *JobSpec) {
		if j.Permissions == nil {
			j.Permissions = map[Scope]Access{}
		}
		for _, p := range perms {
			j.Permissions[p.Scope] = p.Access
		}
	}
}

var scopeAccess = map[Scope][]Access{
	Contents: {NoAccess, ReadAccess, WriteAccess}, Packages: {NoAccess, ReadAccess, WriteAccess},
	IDTokens: {NoAccess, WriteAccess}, Attestations: {NoAccess, ReadAccess, WriteAccess},
	PullRequests: {NoAccess, ReadAccess, WriteAccess}, SecurityEvents: {NoAccess, ReadAccess, WriteAccess},
	Checks: {NoAccess, ReadAccess, WriteAccess}, Actions: {NoAccess, ReadAccess, WriteAccess},
	Deployments: {NoAccess, ReadAccess, WriteAccess}, Issues: {NoAccess, ReadAccess, WriteAccess},
	Statuses: {NoAccess, ReadAccess, WriteAccess},
}

func validatePermissions(j JobSpec, jp func(string, ...any)) {
	for _, s := range slices.Sorted(maps.Keys(j.Permissions)) {
		a := j.Permissions[s]
		allowed, ok := scopeAccess[s]
		switch {
		case !ok:
			scopes := slices.Sorted(maps.Keys(scopeAccess))
			jp("permission %q is not a GITHUB_TOKEN scope (they are: %s)", s, joinScopes(scopes))
		case !slices.Contains(allowed, a):
			jp("permission %s: %q is not one of %s", s, a, joinAccess(allowed))
		}
	}
	if j.Permissions[IDTokens] == NoAccess && len(j.Permissions) > 0 {
		if _, set := j.Permissions[IDTokens]; set && len(j.Call.IDTokens()) > 0 {
			jp("withdraws the id-token permission but reads an ID token; drop pipeline.IDTokens.None()")
		}
	}
}

func joinScopes(s []Scope) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += string(x)
	}
	return out
}

func joinAccess(a []Access) string {
	out := ""
	for i, x := range a {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", string(x))
	}
	return out
}
