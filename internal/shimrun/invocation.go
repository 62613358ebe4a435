package shimrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// Invocation is one run of the Dagger CLI stand-in, as it records it in
// SLIPWAY_DAGGER_LOG. The JSON names match internal/daggerstandin.
type Invocation struct {
	// Args are the command-line arguments after "dagger", as the shell
	// passed them: variables expanded, quotes removed.
	Args []string `json:"args"`
	// Function is the function `dagger call` called; empty for other commands.
	Function string `json:"function,omitempty"`
	// Job is the CI job that ran the command (CI_JOB_NAME or GITHUB_JOB).
	Job string `json:"job,omitempty"`
	// Secrets says, for every env://NAME argument, whether NAME was set and
	// not empty in the stand-in's environment. Values are never recorded.
	Secrets map[string]bool `json:"secrets,omitempty"`
	// Stdout is what the stand-in printed, for functions whose output jobs
	// capture (publish).
	Stdout string `json:"stdout,omitempty"`
	// Env holds the variables Run.RecordEnv names that were set, with
	// their values.
	Env map[string]string `json:"env,omitempty"`
}

// CallArgs returns the arguments after the function name of a `dagger call`
// (the function's flags and any chained calls), without the global flags
// before "call". It returns nil for other commands.
func (i Invocation) CallArgs() []string {
	for k, a := range i.Args {
		if a == "call" && k+1 < len(i.Args) {
			// `call TOOLCHAIN FUNCTION ...`: skip the toolchain.
			if i.Function != "" && i.Args[k+1] != i.Function && k+2 < len(i.Args) && i.Args[k+2] == i.Function {
				return i.Args[k+3:]
			}
			return i.Args[k+2:]
		}
	}
	return nil
}

// ReadLog reads the invocations the stand-in appended to path, in the order
// they were made. A missing file means no invocation.
func ReadLog(path string) ([]Invocation, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dagger stand-in log: %w", err)
	}
	var out []Invocation
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		var inv Invocation
		if err := json.Unmarshal(sc.Bytes(), &inv); err != nil {
			return nil, fmt.Errorf("dagger stand-in log %s:%d: %w", path, n, err)
		}
		out = append(out, inv)
	}
	return out, sc.Err()
}

// StandInPackage is the import path of the Dagger CLI stand-in.
const StandInPackage = "github.com/slipway-ci/slipway/internal/daggerstandin"

// BuildStandIn builds the Dagger CLI stand-in as dir/dagger, so that dir can
// go first on a runner's PATH. It runs `go build` in the current directory,
// which must be inside the slipway module (as it is for this package's tests).
func BuildStandIn(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "dagger"), StandInPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build dagger stand-in: %w\n%s", err, out)
	}
	return nil
}
