package enginetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/engine"
)

// recorder captures what Unavailable does instead of stopping the test.
func TestPingReportsWhatIsMissing(t *testing.T) {
	dir := t.TempDir()
	err := Ping(engine.Env{RunnerHost: "unix://" + filepath.Join(dir, "sock"), CLIBin: filepath.Join(dir, "dagger")})
	if err == nil || !strings.Contains(err.Error(), "dagger CLI") {
		t.Errorf("missing CLI: %v", err)
	}
	cli := filepath.Join(dir, "dagger")
	if err := writeFile(cli); err != nil {
		t.Fatal(err)
	}
	err = Ping(engine.Env{RunnerHost: "unix://" + filepath.Join(dir, "sock"), CLIBin: cli})
	if err == nil || !strings.Contains(err.Error(), "not answering") {
		t.Errorf("no engine: %v", err)
	}
	err = Ping(engine.Env{RunnerHost: "tcp://127.0.0.1:1234", CLIBin: cli})
	if err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Errorf("tcp runner host: %v", err)
	}
}

func writeFile(p string) error { return os.WriteFile(p, nil, 0o755) }
