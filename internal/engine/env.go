package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Env is what a client needs to talk to a running engine: the dagger CLI
// and the Go SDK read the two _EXPERIMENTAL_ variables, and never download
// a CLI of their own when _EXPERIMENTAL_DAGGER_CLI_BIN is set.
type Env struct {
	RunnerHost string // _EXPERIMENTAL_DAGGER_RUNNER_HOST, unix://.../engine.sock
	CLIBin     string // _EXPERIMENTAL_DAGGER_CLI_BIN, the dagger CLI
	BinDir     string // to prepend to PATH, so that plain `dagger` works
}

// Env returns the environment for this engine (whether it runs or not).
func (e *Engine) Env() Env {
	return Env{
		RunnerHost: "unix://" + e.SocketPath(),
		CLIBin:     filepath.Join(e.BinDir(), "dagger"),
		BinDir:     e.BinDir(),
	}
}

// Vars returns the variables as KEY=VALUE, without PATH. The quiet-telemetry
// ones keep the CLI from trying to reach the network.
func (v Env) Vars() []string {
	return []string{
		"_EXPERIMENTAL_DAGGER_RUNNER_HOST=" + v.RunnerHost,
		"_EXPERIMENTAL_DAGGER_CLI_BIN=" + v.CLIBin,
		"DAGGER_NO_NAG=1",
		"DO_NOT_TRACK=1",
		"SLIPWAY_ENGINE_BIN_DIR=" + v.BinDir,
	}
}

// Environ returns base (e.g. os.Environ()) with the engine variables set
// and BinDir prepended to PATH.
func (v Env) Environ(base []string) []string {
	set := map[string]bool{}
	out := []string{}
	for _, kv := range v.Vars() {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
		out = append(out, kv)
	}
	path := v.BinDir
	for _, kv := range base {
		k, val, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH":
			path = v.BinDir + string(os.PathListSeparator) + val
		case !set[k]:
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+path)
}

// Script renders the env as a shell snippet for `. FILE` or `eval "$(...)"`.
// Values are not quoted, so that ReadEnvFile can parse them back without a
// shell; WriteFile refuses paths that would need quoting.
func (v Env) Script() string {
	var b strings.Builder
	b.WriteString("# Dagger engine started by `make engine` (slipway). Source it: . THIS-FILE\n")
	for _, kv := range v.Vars() {
		fmt.Fprintf(&b, "export %s\n", kv)
	}
	fmt.Fprintf(&b, "export PATH=%s:$PATH\n", v.BinDir)
	return b.String()
}

// WriteFile writes Script to path, creating the directory.
func (v Env) WriteFile(path string) error {
	for _, s := range []string{v.RunnerHost, v.CLIBin, v.BinDir} {
		if strings.ContainsAny(s, " \t\"'$\\") {
			return fmt.Errorf("engine path %q contains spaces or quotes: choose a cache directory without them (XDG_CACHE_HOME)", s)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing env file: %w", err)
	}
	if err := os.WriteFile(path, []byte(v.Script()), 0o644); err != nil {
		return fmt.Errorf("writing env file: %w", err)
	}
	return nil
}

// ReadEnvFile parses a file written by WriteFile.
func ReadEnvFile(path string) (Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return Env{}, err
	}
	defer f.Close()
	var v Env
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "export ")
		if !ok {
			continue
		}
		k, val, _ := strings.Cut(line, "=")
		switch k {
		case "_EXPERIMENTAL_DAGGER_RUNNER_HOST":
			v.RunnerHost = val
		case "_EXPERIMENTAL_DAGGER_CLI_BIN":
			v.CLIBin = val
		case "SLIPWAY_ENGINE_BIN_DIR":
			v.BinDir = val
		}
	}
	if err := sc.Err(); err != nil {
		return Env{}, fmt.Errorf("reading %s: %w", path, err)
	}
	if v.RunnerHost == "" || v.CLIBin == "" {
		return Env{}, fmt.Errorf("%s does not name _EXPERIMENTAL_DAGGER_RUNNER_HOST and _EXPERIMENTAL_DAGGER_CLI_BIN", path)
	}
	if v.BinDir == "" {
		v.BinDir = filepath.Dir(v.CLIBin)
	}
	return v, nil
}
