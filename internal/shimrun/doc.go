// Package shimrun runs the CI files slipway generates on real local runners,
// gitlab-ci-local in shell mode and act in host mode, with a stand-in for
// the Dagger CLI (internal/daggerstandin) first on PATH, and returns the
// `dagger` invocations each job made.
//
// Only the engine is replaced: the generated YAML, the runner's rules,
// needs, manual jobs, outputs and secrets all run for real, so the tests can
// assert which jobs a ref starts, in which order, with which arguments, and
// that secrets reach Dagger through the environment. The end-to-end suite
// swaps the stand-in for the real CLI and engine.
//
// The runners are installed, cached by version, by `make tools`
// (internal/tools/install-runners.sh); FindGitLabCILocal and FindAct look
// for them there.
package shimrun
