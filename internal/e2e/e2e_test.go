package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

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
