// Command dindstandin rewrites a generated .gitlab-ci.yml whose jobs start
// their Dagger engine in a docker:dind service (Dagger's GitLab recipe) so
// that gitlab-ci-local's shell executor, which cannot start services, runs
// it on the engine _EXPERIMENTAL_DAGGER_RUNNER_HOST names instead. It is
// shimrun.StandInDockerEngine, which the runner tests use, as a filter:
//
//	go run ./internal/cmd/dindstandin < .gitlab-ci.yml > /tmp/run/.gitlab-ci.yml
//
// Only the recipe's image, service and DOCKER_* variables go; a job that
// deviates from the recipe is an error, never silently changed.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slipway-ci/slipway/internal/shimrun"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dindstandin: reading standard input:", err)
		os.Exit(1)
	}
	out, changed, err := shimrun.StandInDockerEngine(in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dindstandin:", err)
		os.Exit(1)
	}
	if _, err := os.Stdout.Write(out); err != nil {
		fmt.Fprintln(os.Stderr, "dindstandin: writing standard output:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "dindstandin: the runner's engine stands in for docker:dind in %d jobs: %s\n", len(changed), strings.Join(changed, ", "))
}
