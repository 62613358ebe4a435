package shimrun

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slipway-ci/slipway/pipeline/local"
)

var (
	ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// gitlab-ci-local prefixes a job's output with its name: "build > line"
	// (and its commands with "build $ ").
	gitlabLine = regexp.MustCompile(`^(\S+)\s+>(?: (.*))?$`)
	// act prefixes it with the workflow and job: "[CI/build]   | line".
	actLine = regexp.MustCompile(`^\[[^/\]]+/([^\]]+)\]\s+\|(?: (.*))?$`)
)

// JobOutputs splits a runner's combined output (Result.Output of
// gitlab-ci-local or act) into each job's own lines, in order.
func JobOutputs(output []byte) map[string]string {
	jobs := map[string]*strings.Builder{}
	for _, line := range strings.Split(ansi.ReplaceAllString(string(output), ""), "\n") {
		m := gitlabLine.FindStringSubmatch(line)
		if m == nil {
			m = actLine.FindStringSubmatch(line)
		}
		if m == nil {
			continue
		}
		b := jobs[m[1]]
		if b == nil {
			b = &strings.Builder{}
			jobs[m[1]] = b
		}
		b.WriteString(m[2] + "\n")
	}
	out := make(map[string]string, len(jobs))
	for k, b := range jobs {
		out[k] = b.String()
	}
	return out
}

// JobFailures returns what Dagger reported (local.ParseFailure) for each
// job of a runner's output that printed a Dagger error.
func JobFailures(output []byte) map[string]local.Failure {
	out := map[string]local.Failure{}
	for job, text := range JobOutputs(output) {
		if f, ok := local.ParseFailure(text); ok {
			out[job] = f
		}
	}
	return out
}

// FailureReport is what a test prints when a run failed: for each job
// with a Dagger error, that error (the function's error chain), the
// failing command and its last words on stderr; the runner's full output
// is saved to a file the report names, since a test's temporary
// directory goes with it. Without any Dagger error (the runner itself
// failed) the report ends with the output's last lines.
func FailureReport(runner string, res *Result) string {
	var b strings.Builder
	fails := JobFailures(res.Output)
	jobs := make([]string, 0, len(fails))
	for j := range fails {
		jobs = append(jobs, j)
	}
	slices.Sort(jobs)
	for _, j := range jobs {
		f := fails[j]
		fmt.Fprintf(&b, "job %s: %s\n", j, f.Error)
		if f.Exec != "" {
			fmt.Fprintf(&b, "  in: withExec %s\n", f.Exec)
		}
		for i, l := range f.Stderr {
			if i == 0 {
				b.WriteString("  stderr (last lines):\n")
			}
			fmt.Fprintf(&b, "    %s\n", l)
		}
	}
	if len(jobs) == 0 {
		lines := strings.Split(strings.TrimRight(ansi.ReplaceAllString(string(res.Output), ""), "\n"), "\n")
		if len(lines) > 40 {
			lines = lines[len(lines)-40:]
		}
		fmt.Fprintf(&b, "no job printed a Dagger error; the output's last lines:\n%s\n", strings.Join(lines, "\n"))
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("slipway-%s-%s.log", runner, time.Now().Format("20060102-150405.000")))
	if err := os.WriteFile(path, res.Output, 0o644); err != nil {
		fmt.Fprintf(&b, "(the full output could not be saved: %v)\n", err)
	} else {
		fmt.Fprintf(&b, "full output: %s\n", path)
	}
	return b.String()
}
