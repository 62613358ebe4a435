package shimrun

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/slipway-ci/slipway/internal/hostcache"
)

// The runner versions the tests are written against. Keep them in step with
// internal/tools/install-runners.sh, which installs them.
const (
	// GitLabCILocalVersion is the gitlab-ci-local release; 4.65.1 is the
	// newest that runs on Node 20.
	GitLabCILocalVersion = "4.65.1"
	// ActVersion is the nektos/act release.
	ActVersion = "v0.2.89"
	// nodeVersion is the Node.js the install script fetches from npm when
	// the system's is older than 20.
	nodeVersion = "20.20.2"
)

// ErrNotInstalled is wrapped by the Find functions when a runner is missing.
var ErrNotInstalled = errors.New("not installed (run `make tools`)")

// ToolsDir returns the directory install-runners.sh installs into:
// $SLIPWAY_TOOLS_DIR, else $SLIPWAY_CACHE/tools, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/slipway/tools.
func ToolsDir() (string, error) {
	if d := os.Getenv("SLIPWAY_TOOLS_DIR"); d != "" {
		return d, nil
	}
	c, err := hostcache.Dir()
	if err != nil {
		return "", fmt.Errorf("tools directory: %w", err)
	}
	return filepath.Join(c, "tools"), nil
}

// Tool is an installed runner.
type Tool struct {
	// Path is the executable.
	Path string
	// PathDirs are directories the tool needs first on PATH, such as the
	// Node.js that install-runners.sh installed when the system's was too old.
	PathDirs []string
}

// FindGitLabCILocal returns gitlab-ci-local GitLabCILocalVersion from the
// tools directory, or else the one on PATH. It also needs rsync, which
// gitlab-ci-local uses to copy the repository for each job under
// --shell-isolation.
func FindGitLabCILocal() (Tool, error) {
	dir, err := ToolsDir()
	if err != nil {
		return Tool{}, err
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return Tool{}, fmt.Errorf("rsync, which gitlab-ci-local needs: %w", ErrNotInstalled)
	}
	var t Tool
	if node := filepath.Join(dir, "node-"+nodeVersion, "node_modules", ".bin"); isExecutable(filepath.Join(node, "node")) {
		t.PathDirs = []string{node}
	}
	if p := filepath.Join(dir, "gitlab-ci-local-"+GitLabCILocalVersion, "node_modules", ".bin", "gitlab-ci-local"); isExecutable(p) {
		t.Path = p
		return t, nil
	}
	if p, err := exec.LookPath("gitlab-ci-local"); err == nil {
		t.Path = p
		return t, nil
	}
	return Tool{}, fmt.Errorf("gitlab-ci-local %s: not in %s nor on PATH: %w", GitLabCILocalVersion, dir, ErrNotInstalled)
}

// FindAct returns act ActVersion from the tools directory, or else the one
// on PATH.
func FindAct() (Tool, error) {
	dir, err := ToolsDir()
	if err != nil {
		return Tool{}, err
	}
	if p := filepath.Join(dir, "act-"+ActVersion, "bin", "act"); isExecutable(p) {
		return Tool{Path: p}, nil
	}
	if p, err := exec.LookPath("act"); err == nil {
		return Tool{Path: p}, nil
	}
	return Tool{}, fmt.Errorf("act %s: not in %s nor on PATH: %w", ActVersion, dir, ErrNotInstalled)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
