package enginetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-ci/slipway/internal/engine"
)

// recorder captures what Unavailable does instead of stopping the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestUnavailableSkipsOrFails(t *testing.T) {
	reason := errors.New("engine socket /x/engine.sock not answering")

	t.Setenv(RequireEnv, "")
	r := &recorder{TB: t}
	Unavailable(r, reason)
	if r.fatal != "" || !strings.Contains(r.skip, reason.Error()) || !strings.Contains(r.skip, RequireEnv+"=1") {
		t.Errorf("without %s: fatal %q, skip %q", RequireEnv, r.fatal, r.skip)
	}

	t.Setenv(RequireEnv, "1")
	r = &recorder{TB: t}
	Unavailable(r, reason)
	if r.skip != "" || !strings.Contains(r.fatal, reason.Error()) {
		t.Errorf("with %s=1: fatal %q, skip %q", RequireEnv, r.fatal, r.skip)
	}
}

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
