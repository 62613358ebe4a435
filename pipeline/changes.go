package pipeline

import (
	"regexp"
	"slices"
	"strings"
)

// PerPackage adds one job per package directory of a monorepo, named
// "<name>:<dir>", which runs when one of rules matches and a path under
// the directory (dir/**), or one of shared (such as "go.mod"), changed.
// job returns the rest of each job's options (stage, call with the
// directory as an argument, needs, ...). GitLab gets rules:changes per job;
// GitHub a change-detection job whose outputs gate each job.
func PerPackage(name string, dirs, shared []string, rules []Rule, job func(dir string) []JobOption) Option {
	return func(p *Pipeline) {
		for _, dir := range dirs {
			dir = strings.TrimSuffix(dir, "/")
			globs := append([]string{dir + "/**"}, shared...)
			var rs []Rule
			for _, r := range rules {
				rs = append(rs, r.WithChanges(globs...))
			}
			opts := append([]JobOption{When(rs...)}, job(dir)...)
			Job(name+":"+dir, opts...)(p)
		}
	}
}

// GlobRegexp returns the POSIX extended regular expression that matches
// exactly the paths glob matches, as GitLab's rules:changes and GitHub's
// paths filters read globs: "*" and "?" do not cross "/", "**" does (and
// "**/" also matches no directory), "{a,b}" is either, "[...]" a class.
func GlobRegexp(glob string) string {
	var b strings.Builder
	b.WriteString("^")
	depth := 0
	for i := 0; i < len(glob); i++ {
		c := glob[i]
		switch {
		case strings.HasPrefix(glob[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(glob[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		case c == '{':
			depth++
			b.WriteString("(")
		case c == '}' && depth > 0:
			depth--
			b.WriteString(")")
		case c == ',' && depth > 0:
			b.WriteString("|")
		case c == '[':
			if end := strings.IndexByte(glob[i+1:], ']'); end >= 0 {
				class := glob[i+1 : i+1+end]
				if strings.HasPrefix(class, "!") {
					class = "^" + class[1:]
				}
				b.WriteString("[" + class + "]")
				i += end + 1
				continue
			}
			b.WriteString(`\[`)
		case strings.IndexByte(`.+()|^$\{}]`, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("$")
	return b.String()
}

// globWellFormed reports whether glob's regular expression compiles: its
// "{" are closed (a stray "}" or a "[" without "]" is taken literally).
func globWellFormed(glob string) bool {
	_, err := regexp.Compile(GlobRegexp(glob))
	return err == nil
}

// GlobsRegexp is GlobRegexp for a set of globs: a path matching any.
func GlobsRegexp(globs []string) string {
	parts := make([]string, 0, len(globs))
	for _, g := range globs {
		re := GlobRegexp(g)
		parts = append(parts, "("+re[1:len(re)-1]+")")
	}
	slices.Sort(parts)
	return "^(" + strings.Join(slices.Compact(parts), "|") + ")$"
}
