// Package e2e holds the one rule every test that needs a real component
// (the engine, the control plane, a CI runner, a tool such as shellcheck)
// follows: where the component is missing, the test is skipped with the
// reason; with SLIPWAY_REQUIRE_E2E=1, as .ci/run sets, it fails with the
// reason instead, so CI can never pass by skipping.
package e2e

import (
	"os"
	"testing"
)

// RequireEnv is the variable that turns "skip" into "fail".
const RequireEnv = "SLIPWAY_REQUIRE_E2E"

// Required reports whether end-to-end tests must run (RequireEnv=1).
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable stops the test for a missing prerequisite: Skip with the
// reason, or Fatal with it under RequireEnv=1.
func Unavailable(t testing.TB, reason error) {
	t.Helper()
	if Required() {
		t.Fatalf("end-to-end test cannot run, and %s=1 requires it: %v", RequireEnv, reason)
		return
	}
	t.Skipf("skipping end-to-end test: %v (set %s=1 to make this a failure)", reason, RequireEnv)
}
