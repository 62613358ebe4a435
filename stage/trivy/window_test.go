package trivy

import (
	"testing"
	"time"
)

// TestScanWindow: calls within one window share the scan (Dagger reuses
// its exec); the next window, or a zero bound, scans again.
func TestScanWindow(t *testing.T) {
	at := func(s string) func() time.Time {
		return func() time.Time {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
	}
	tests := []struct {
		name   string
		every  time.Duration
		a, b   string
		sameOK bool
	}{
		{"same hour", time.Hour, "2026-11-26T10:05:00Z", "2026-11-26T10:55:00Z", true},
		{"next hour", time.Hour, "2026-11-26T10:55:00Z", "2026-11-26T11:05:00Z", false},
		{"a day's window", 24 * time.Hour, "2026-11-26T01:00:00Z", "2026-11-26T23:00:00Z", true},
		{"no reuse", 0, "2026-11-26T10:05:00Z", "2026-11-26T10:05:00.000000001Z", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := config{now: at(tt.a), rescanAfter: tt.every}.scanWindow()
			b := config{now: at(tt.b), rescanAfter: tt.every}.scanWindow()
			if (a == b) != tt.sameOK {
				t.Errorf("windows %q and %q: same = %v, want %v", a, b, a == b, tt.sameOK)
			}
		})
	}
}
