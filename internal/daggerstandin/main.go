// Command daggerstandin is a stand-in for the Dagger CLI that the runner
// tests (internal/shimrun) put on PATH under the name "dagger". It replaces
// only the engine: the generated CI files run unchanged on real local runners
// (gitlab-ci-local, act), and every `dagger call` they make is recorded
// instead of executed, so the tests can assert which functions each job
// calls, in which order and with which arguments.
//
// Behaviour:
//   - `dagger version` prints "dagger v0.19.10 (stand-in)", which the
//     generated set-up snippet accepts as the pinned CLI, so no download is
//     attempted.
//   - Any other invocation appends one JSON line (see shimrun.Invocation) to
//     the file named by SLIPWAY_DAGGER_LOG and exits 0. It fails loudly when
//     the variable is unset, so a misconfigured test cannot pass silently.
//   - For arguments of the form --x=env://NAME it records whether NAME is set
//     and non-empty in its environment, never the value, so the tests can
//     check that secrets reach Dagger through the environment.
//   - `publish` prints an image reference with a digest derived from its
//     arguments, because jobs capture that output and pass it on; the record
//     holds what was printed, so tests can follow the value downstream.
//   - The variables SLIPWAY_DAGGER_ENV names (comma-separated) are recorded
//     with their values, so tests can see which engine a job pointed
//     `dagger` at (_EXPERIMENTAL_DAGGER_RUNNER_HOST, DAGGER_CLOUD_ENGINE...).
//     Only name variables that are not secrets.
//   - SLIPWAY_DAGGER_TOOLCHAINS names toolchains (comma-separated): in
//     `dagger call slipway publish` the function is publish.
//   - Functions listed in SLIPWAY_DAGGER_FAIL (comma-separated) exit 1 after
//     recording, so the tests can check allow-failure and blocking jobs. A
//     call that exports (`... export --path=DIR`) still succeeds, as a real
//     stage's reports come back when it fails; its verdict call fails.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// version is what `dagger version` prints. The generated set-up snippet
// greps for "dagger v0.19.10 " (with the trailing space).
const version = "dagger v0.19.10 (stand-in)"

// invocation is one recorded call. Keep the JSON names in step with
// shimrun.Invocation.
type invocation struct {
	Args     []string          `json:"args"`
	Function string            `json:"function,omitempty"`
	Job      string            `json:"job,omitempty"`
	Secrets  map[string]bool   `json:"secrets,omitempty"`
	Stdout   string            `json:"stdout,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "dagger (stand-in): %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Println(version)
		return nil
	}
	logPath := os.Getenv("SLIPWAY_DAGGER_LOG")
	if logPath == "" {
		return fmt.Errorf("SLIPWAY_DAGGER_LOG is not set: the stand-in has nowhere to record %q", args)
	}
	inv := invocation{Args: args, Function: function(args), Job: job(), Secrets: secrets(args), Env: recordedEnv()}
	failing := inv.Function != "" && slices.Contains(strings.Split(os.Getenv("SLIPWAY_DAGGER_FAIL"), ","), inv.Function) &&
		!slices.Contains(args, "export")
	if inv.Function == "publish" && !failing {
		// A digest that depends on the arguments, so a consumer that
		// receives it can be told apart from one that made it up.
		sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
		inv.Stdout = "registry.example/app@sha256:" + hex.EncodeToString(sum[:])
	}
	if inv.Function == "publish-many" && !failing {
		// Several outputs, as NAME=value lines among other output.
		sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
		h := hex.EncodeToString(sum[:])
		inv.Stdout = "published 1 image\nIMAGE_REF=registry.example/app@sha256:" + h + "\nVERSION=1.2.3-" + h[:8]
	}
	if inv.Function == "ci" && !failing && len(args) > 0 && args[len(args)-1] == "check" {
		// goservice.OneJob's verdict: a summary that ends with the pushed
		// image's IMAGE_REF line (pipeline.LineOutputs).
		sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
		inv.Stdout = "publish      ok  1.0s  pushed\nIMAGE_REF=registry.example/app@sha256:" + hex.EncodeToString(sum[:])
	}
	line, err := json.Marshal(inv)
	if err != nil {
		return err
	}
	// One write of one line with O_APPEND: jobs running in parallel append
	// to the same log without interleaving their lines.
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write log: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close log: %w", err)
	}
	if failing {
		return fmt.Errorf("function %q fails because SLIPWAY_DAGGER_FAIL says so", inv.Function)
	}
	if inv.Stdout != "" {
		fmt.Println(inv.Stdout)
	}
	return nil
}

// function returns the name of the function `dagger [flags] call NAME ...`
// calls, or "" when the invocation is not a call. A NAME listed in
// SLIPWAY_DAGGER_TOOLCHAINS (comma-separated) is a toolchain: the function
// is the word after it (`dagger call slipway publish`).
func function(args []string) string {
	toolchains := strings.Split(os.Getenv("SLIPWAY_DAGGER_TOOLCHAINS"), ",")
	for i, a := range args {
		if a == "call" && i+1 < len(args) {
			if slices.Contains(toolchains, args[i+1]) && i+2 < len(args) {
				return args[i+2]
			}
			return args[i+1]
		}
	}
	return ""
}

// job names the CI job that made the call: GitLab sets CI_JOB_NAME, GitHub
// Actions (and act) GITHUB_JOB.
func job() string {
	if j := os.Getenv("CI_JOB_NAME"); j != "" {
		return j
	}
	return os.Getenv("GITHUB_JOB")
}

// secrets records, for every env://NAME argument, whether NAME is set and
// not empty. The value itself is never read into the record.
func secrets(args []string) map[string]bool {
	var out map[string]bool
	for _, a := range args {
		_, v, ok := strings.Cut(a, "=")
		if !ok {
			v = a
		}
		name, ok := strings.CutPrefix(v, "env://")
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		out[name] = os.Getenv(name) != ""
	}
	return out
}

// recordedEnv returns the variables SLIPWAY_DAGGER_ENV names that are set.
func recordedEnv() map[string]string {
	var out map[string]string
	for _, name := range strings.Split(os.Getenv("SLIPWAY_DAGGER_ENV"), ",") {
		if v, ok := os.LookupEnv(name); ok && name != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}
